from __future__ import annotations

from celery import shared_task

from accounts import services


@shared_task(
    name="accounts.tasks.worker_heartbeat", ignore_result=True, soft_time_limit=20, time_limit=30
)
def worker_heartbeat() -> None:
    services.record_worker_heartbeat()
