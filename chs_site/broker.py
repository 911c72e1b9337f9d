"""Celery's Redis transport, with one kombu failure worked around.

When Redis drops while a worker holds unacknowledged messages (a task running under
``acks_late``, a ``countdown`` waiting for its time), celery closes the broker connection
and kombu restores those messages as the channel closes. By then kombu 5.7.0 has already
let go of the connection's parameters, the restore fails with ``AttributeError: 'NoneType'
object has no attribute 'hostname'`` and the worker exits for good ("Unrecoverable
error"); acknowledging a task that finished just after the drop fails the same way.
``tests/scoring/test_faults.py`` reproduces both with a real Redis restart under ingest.

Here the restore is skipped when the connection is already gone: the messages stay in
Redis's unacked set and come back after the visibility timeout, and what they would have
done is held in PostgreSQL anyway (dirty markers, leased nightly chunks, the score-event
outbox), which the minute sweeps serve. The worker reconnects instead of exiting."""

from __future__ import annotations

import logging
from typing import Any

import redis
from kombu.transport import redis as kombu_redis

log = logging.getLogger(__name__)


class QoS(kombu_redis.QoS):
    def restore_unacked(self, client: Any = None) -> Any:
        transport = self.channel.connection
        delivered = self._delivered
        if client is None and (transport is None or transport.client is None):
            log.warning(
                "broker connection already closed: %d unacknowledged message(s) left in"
                " Redis for the visibility timeout; the sweeps serve their work meanwhile",
                len(delivered or ()),
            )
            if delivered is not None:
                delivered.clear()
            return None
        return super().restore_unacked(client)


class Channel(kombu_redis.Channel):
    QoS = QoS

    def _connparams(self, asynchronous: bool = False) -> Any:
        # The same hole on other paths (acknowledging a task that finished after the
        # connection dropped): say "connection lost", which celery and kombu handle
        # (the ack is logged as failed, the consumer reconnects), not AttributeError.
        transport = self.connection
        if transport is None or transport.client is None:
            raise redis.ConnectionError("the broker connection is closed")
        return super()._connparams(asynchronous=asynchronous)  # type: ignore[misc]


class Transport(kombu_redis.Transport):
    Channel = Channel
