from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from celery.signals import worker_ready
from django.db import DatabaseError

from accounts.imports import jobs
from accounts.services import heartbeat

log = logging.getLogger(__name__)


@shared_task(
    name="accounts.tasks.worker_heartbeat", ignore_result=True, soft_time_limit=20, time_limit=30
)
def worker_heartbeat() -> None:
    heartbeat.record_worker_heartbeat()


@worker_ready.connect
def heartbeat_on_start(**_: Any) -> None:
    """A worker that has just started is alive now, not at beat's next minute: /healthz's
    worker check passes as soon as it consumes."""
    try:
        heartbeat.record_worker_heartbeat()
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
