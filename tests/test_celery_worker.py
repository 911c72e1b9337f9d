"""A task goes through Redis to a real worker process and its effect lands in PostgreSQL."""

from __future__ import annotations

import subprocess

import pytest

from accounts.models import WorkerHeartbeat
from accounts.tasks import worker_heartbeat
from tests.conftest import wait_for


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_task_runs_on_a_real_worker_and_writes_to_postgres(
    celery_worker_process: subprocess.Popen[bytes],
) -> None:
    assert not WorkerHeartbeat.objects.exists()
    worker_heartbeat.delay()
    assert wait_for(WorkerHeartbeat.objects.exists, timeout=20)
