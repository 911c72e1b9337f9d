"""The four Celery queues: every task is routed to one, each queue's worker beats for
/healthz, and a long import on its own queue never delays a recompute (real workers)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import connection
from django.utils import timezone

from accounts.imports.jobs import create_import_job
from accounts.models import Account, ImportJob, User, WorkerHeartbeat
from accounts.tasks import run_import_job
from chs_site.benchmarks import sending_to
from chs_site.celery import app
from chs_site.queues import IMPORTS, QUEUES, RECOMPUTE, TASK_QUEUES, qualified
from scoring.contracts import MetricValueIn
from scoring.models import Measure, MetricDefinition, MetricValue, Scorecard
from scoring.services.values import record_metric_values
from tests.conftest import wait_for
from tests.faults import Processes


def chs_task_names() -> list[str]:
    app.loader.import_default_modules()  # every app's tasks.py registers its tasks
    return sorted(name for name in app.tasks if not name.startswith("celery."))


def routed_queue(name: str) -> str:
    return str(app.amqp.router.route({}, name)["queue"].name)


def test_every_chs_task_is_routed_to_one_of_the_four_queues() -> None:
    names = chs_task_names()
    assert len(names) >= 16  # the apps' tasks were loaded
    for name in names:
        assert routed_queue(name) in settings.CELERY_QUEUE_NAMES, name
    # Routed by name, not by falling through to the default queue.
    assert set(names) - set(TASK_QUEUES) == {"accounts.tasks.worker_heartbeat"}


def test_long_jobs_and_recomputes_never_share_a_queue() -> None:
    ns = settings.CELERY_QUEUE_NAMESPACE
    assert routed_queue("scoring.tasks.recompute_dirty") == qualified(ns, RECOMPUTE)
    for long_job in ("accounts.tasks.run_import_job", "scoring.tasks.run_backfill"):
        assert routed_queue(long_job) == qualified(ns, IMPORTS)
    assert routed_queue("playbooks.deliver_notification") == qualified(ns, "notifications")
    assert routed_queue("playbooks.process_score_events") == qualified(ns, "playbooks")


def test_tests_use_a_private_namespace_and_production_the_bare_names() -> None:
    assert settings.CELERY_QUEUE_NAMESPACE.startswith("chs-test-")
    assert qualified("", RECOMPUTE) == "recompute"  # what the Procfile's workers pass to -Q


def test_a_worker_without_a_queue_option_consumes_all_four_each_bound_alone() -> None:
    configured = app.conf.task_queues
    assert [queue.name for queue in configured] == settings.CELERY_QUEUE_NAMES
    for queue in configured:
        # A message for one queue never lands in another.
        assert (queue.exchange.name, queue.routing_key) == (queue.name, queue.name)


def test_beat_sends_a_heartbeat_to_every_queue() -> None:
    beats = {
        entry["args"][0]: entry["options"]["queue"]
        for entry in settings.CELERY_BEAT_SCHEDULE.values()
        if entry["task"] == "accounts.tasks.worker_heartbeat"
    }
    assert beats == {q: qualified(settings.CELERY_QUEUE_NAMESPACE, q) for q in QUEUES}


# --- real workers, one per queue ---------------------------------------------------------


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    if not settings.IS_POSTGRES or settings.CELERY_TASK_ALWAYS_EAGER:
        pytest.skip("needs PostgreSQL and Redis")
    started = Processes(tmp_path)
    try:
        with sending_to(started.queue):
            yield started
    finally:
        started.stop()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_long_import_does_not_delay_a_recompute(
    processes: Processes, admin: User, account: Account
) -> None:
    metric = MetricDefinition.objects.create(key="usage", name="Usage")
    card = Scorecard.objects.create(name="Default", status=Scorecard.Status.ACTIVE)
    Measure.objects.create(scorecard=card, metric=metric, weight=1, bad=0, good=100)
    WorkerHeartbeat.objects.all().delete()
    processes.worker("imports", serves=[IMPORTS])
    processes.worker("recompute", serves=[RECOMPUTE])
    # Each worker recorded a heartbeat for its own queue only, as it started.
    beaten = {
        key.partition("@")[0] for key in WorkerHeartbeat.objects.values_list("hostname", flat=True)
    }
    assert beaten == {IMPORTS, RECOMPUTE}

    job = create_import_job(
        user=admin,
        kind="metrics_long",
        upload=ContentFile(
            f"account,metric,value,observed_at\n{account.external_id},usage,10,2026-01-01T00:00:00Z\n".encode(),
            name="slow.csv",
        ),
    )
    # The import's worker is held on the queued job's row (locked by another connection
    # here), as a 30-minute import would keep it busy: its queue has one solo worker, so it
    # takes nothing else meanwhile.
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.QUEUED)
    dsn = connection.settings_dict
    lock = psycopg.connect(
        host=dsn["HOST"] or "127.0.0.1",
        port=dsn["PORT"] or 5432,
        user=dsn["USER"] or "postgres",
        dbname=dsn["NAME"],
    )
    try:
        lock.execute("SELECT 1 FROM accounts_importjob WHERE id = %s FOR UPDATE", [job.pk])
        run_import_job.delay(job.pk)
        assert wait_for(lambda: _waiting_on_lock(lock), timeout=30), processes.logs()

        observed = timezone.now() - dt.timedelta(minutes=1)
        record_metric_values(values=[MetricValueIn(account.pk, metric.pk, 80.0, observed)])
        assert wait_for(
            lambda: Account.objects.get(pk=account.pk).computed_score == 80.0, timeout=20
        ), processes.logs()
        assert _waiting_on_lock(lock)  # the import is still held
    finally:
        lock.rollback()
        lock.close()
    assert wait_for(lambda: ImportJob.objects.get(pk=job.pk).is_finished, timeout=30)
    assert ImportJob.objects.get(pk=job.pk).status == ImportJob.Status.SUCCEEDED
    assert MetricValue.objects.filter(account=account, value=10).exists()
    job.file.delete(save=False)


def _waiting_on_lock(lock: psycopg.Connection) -> bool:
    """The import worker's UPDATE of the job waits for the lock this test holds."""
    with psycopg.connect(lock.info.dsn) as other:
        row = other.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND query ILIKE %s",
            ["%accounts_importjob%"],
        ).fetchone()
    return bool(row and row[0])
