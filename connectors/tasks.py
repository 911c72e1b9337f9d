"""Celery tasks of the connectors app: one-line wrappers around the runner and services.

A sync talks to a vendor for minutes: it runs on the ``imports`` queue (long jobs), with a
time limit; it is idempotent (the queued→running update lets one worker take a run), and
retries nothing itself (a failed run is recorded; the schedule runs it again)."""

from __future__ import annotations

from celery import shared_task

from chs_site.celery import RETRY_TRANSIENT
from connectors import runner, writeback
from connectors.services import syncs


@shared_task(name="connectors.run_sync", ignore_result=True, soft_time_limit=3300, time_limit=3600)
def run_sync(run_id: int) -> None:
    runner.execute_sync(run_id=run_id)


@shared_task(
    name="connectors.dispatch_due_syncs", ignore_result=True, time_limit=120, **RETRY_TRANSIENT
)
def dispatch_due_syncs() -> int:
    return syncs.dispatch_due_syncs()


@shared_task(
    name="connectors.write_back_scores", ignore_result=True, time_limit=600, **RETRY_TRANSIENT
)
def write_back_scores() -> int:
    return writeback.write_back_scores()
