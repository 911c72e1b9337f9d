from __future__ import annotations

from celery import shared_task

from accounts.imports import jobs
from accounts.services import heartbeat


@shared_task(
    name="accounts.tasks.worker_heartbeat", ignore_result=True, soft_time_limit=20, time_limit=30
)
def worker_heartbeat() -> None:
    heartbeat.record_worker_heartbeat()


@shared_task(
    name="accounts.tasks.run_import_job",
    ignore_result=True,
    acks_late=True,
    soft_time_limit=30 * 60,
    time_limit=31 * 60,
)
def run_import_job(job_id: int) -> None:
    jobs.run_import(job_id=job_id)
