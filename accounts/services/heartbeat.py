"""Worker heartbeats: when a Celery worker last ran the heartbeat task (/healthz shows it)."""

from __future__ import annotations

import socket

from django.utils import timezone

from accounts.models import WorkerHeartbeat


def record_worker_heartbeat(*, hostname: str | None = None) -> WorkerHeartbeat:
    hostname = hostname or socket.gethostname()
    beat, _ = WorkerHeartbeat.objects.update_or_create(
        hostname=hostname, defaults={"seen_at": timezone.now()}
    )
    return beat
