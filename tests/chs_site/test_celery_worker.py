"""Real Celery processes: a task goes through Redis to a worker and its effect lands in
PostgreSQL; the shared helpers that start workers and beat (chs_site/benchmarks.py) stop
and kill them as fault tests need."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from django.conf import settings

from accounts.models import WorkerHeartbeat
from accounts.tasks import worker_heartbeat
from chs_site.benchmarks import CeleryProcess, start_celery_beat, start_celery_worker
from chs_site.celery import app as celery_app
from tests.conftest import wait_for


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_task_runs_on_a_real_worker_and_writes_to_postgres(
    celery_worker_process: CeleryProcess,
) -> None:
    WorkerHeartbeat.objects.all().delete()  # the worker's own, from its start
    worker_heartbeat.delay()
    assert wait_for(WorkerHeartbeat.objects.exists, timeout=20)


def _live_processes_in_group(pgid: int) -> list[int]:
    """Processes of this process group that are still running (not zombies), from /proc."""
    live = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # pid (comm) state ppid pgrp …; comm may hold spaces, so split after its ")".
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            live.append(int(stat.parent.name))
    return live


@pytest.mark.worker
def test_a_killed_prefork_worker_leaves_no_process_running_and_stops_answering(
    tmp_path: Path,
) -> None:
    node = f"kill-{os.getpid()}@localhost"
    worker = start_celery_worker(
        queue=f"{settings.CELERY_QUEUE_NAMESPACE}-kill",
        node=node,
        pool="prefork",
        concurrency=1,
        env={"CHS_TESTING": "1"},
        log_path=tmp_path / "worker.log",
    )
    try:
        worker.wait_until_ready(timeout=60)
        assert len(_live_processes_in_group(worker.pid)) >= 2  # the main process + its pool
    finally:
        code = worker.kill()
    assert code == -signal.SIGKILL
    assert wait_for(lambda: not _live_processes_in_group(worker.pid), timeout=10)
    assert not celery_app.control.ping(destination=[node], timeout=0.5)


@pytest.mark.redis
def test_beat_runs_on_a_throwaway_schedule_file_and_stops_cleanly(tmp_path: Path) -> None:
    beat = start_celery_beat(
        queue=f"{settings.CELERY_QUEUE_NAMESPACE}-beat",
        schedule_dir=tmp_path / "beat",
        env={"CHS_TESTING": "1"},
    )
    try:
        beat.wait_until_ready(timeout=60)
        log = beat.log_tail()
        assert "celery.beat.PersistentScheduler" in log
        assert str(tmp_path / "beat" / "celerybeat-schedule") in log
    finally:
        code = beat.stop(timeout=20)
    assert code == 0
