from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from celery.signals import worker_ready
from django.db import DatabaseError

from accounts.imports import jobs
from accounts.services import heartbeat
from chs_site import queues

log = logging.getLogger(__name__)


@shared_task(
    name="accounts.tasks.worker_heartbeat", ignore_result=True, soft_time_limit=20, time_limit=30
)
def worker_heartbeat(queue: str = queues.RECOMPUTE) -> None:
    """Beat sends one to each queue every minute, naming the queue it was sent to."""
    heartbeat.record_worker_heartbeat(queue=queue)


@worker_ready.connect
def heartbeat_on_start(sender: Any = None, **_: Any) -> None:
    """A worker that has just started is alive now, not at beat's next minute: /healthz's
    worker check passes for each queue it consumes as soon as it consumes."""
    consumed = sender.app.amqp.queues.consume_from if sender is not None else {}
    try:
        for name in consumed:
            queue = name.rsplit(".", 1)[-1]  # without the namespace of tests and benches
            if queue in queues.QUEUES:
                heartbeat.record_worker_heartbeat(queue=queue)
    except DatabaseError:  # the first beat heartbeat records it once the database answers
        log.warning("could not record the starting worker's heartbeat", exc_info=True)


@shared_task(
    name="accounts.tasks.run_import_job",
    ignore_result=True,
    acks_late=True,
    soft_time_limit=30 * 60,
    time_limit=31 * 60,
)
def run_import_job(job_id: int) -> None:
    jobs.run_import(job_id=job_id)
