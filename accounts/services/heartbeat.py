"""Worker heartbeats: when a Celery worker last ran the heartbeat task on each queue
(/healthz shows it, and fails for a queue that nobody consumes)."""

from __future__ import annotations

import socket

from django.utils import timezone

from accounts.models import WorkerHeartbeat


def heartbeat_key(*, queue: str, hostname: str) -> str:
    """A heartbeat row's key: the queue and the machine, as ``queue@host``."""
    return f"{queue}@{hostname}"


def record_worker_heartbeat(*, queue: str, hostname: str | None = None) -> WorkerHeartbeat:
    """A worker on ``hostname`` (this machine by default) consumes ``queue`` now."""
    key = heartbeat_key(queue=queue, hostname=hostname or socket.gethostname())
    beat, _ = WorkerHeartbeat.objects.update_or_create(
        hostname=key, defaults={"seen_at": timezone.now()}
    )
    return beat
