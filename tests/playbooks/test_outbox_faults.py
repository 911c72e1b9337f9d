"""The score-event outbox under faults, with real processes: PostgreSQL, Redis, a Celery
worker that gets killed and beat.

A score change reaches the playbooks as a ``ScoreEvent`` row written in the recompute's
transaction. These tests break the path between the two on purpose: the worker dies
(``kill -9``) after the recompute committed and while it is evaluating the playbooks, or
Redis loses the message that asks the playbooks to look. Either way the task must appear
once beat's sweep runs, and exactly once.

Each test has a Celery queue of its own, so the suite's shared worker never takes its
messages; the worker and beat it starts send and consume only there."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis
from django.conf import settings
from django.db import connection
from django.utils import timezone

from accounts.models import Account, User
from chs_site.celery import app
from chs_site.queues import RECOMPUTE, TASK_QUEUES, qualified
from playbooks.models import Playbook, Task
from playbooks.services.firing import process_score_events
from scoring.contracts import MetricValueIn
from scoring.models import Measure, MetricDefinition, Scorecard, ScoreEvent
from scoring.services import dirty, events
from scoring.services.recompute import recompute_dirty_accounts
from scoring.services.values import record_metric_values
from tests.conftest import ROOT, database_url_for_current_test_db, wait_for
from tests.factories import PlaybookFactory
from tests.faults import Processes

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# Beat sends the playbooks' sweep every 20 s (settings.CELERY_BEAT_SCHEDULE); its first
# run comes one interval after beat starts.
SWEEP_TIMEOUT = 60


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(tmp_path)
    yield procs
    procs.stop()


@pytest.fixture
def red_playbook(db: None) -> Playbook:
    return PlaybookFactory.create(name="Fell into red → call within 2 days")


@pytest.fixture
def usage(db: None) -> MetricDefinition:
    metric = MetricDefinition.objects.create(key="usage", name="Usage")
    card = Scorecard.objects.create(name="Default", status=Scorecard.Status.ACTIVE)
    Measure.objects.create(scorecard=card, metric=metric, weight=1, bad=0, good=100)
    return metric


def _green_then_dirty_red(
    account: Account, usage: MetricDefinition, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The account scored green (its event already processed), then a value that will
    turn it red, committed with its dirty marker but not yet recomputed. Nothing is sent
    to the suite's queue: the recompute request and the playbooks' nudge are switched off
    in this process."""
    monkeypatch.setattr(dirty, "schedule_recompute", lambda: False)
    monkeypatch.setattr(events, "nudge_consumers", lambda: None)
    now = timezone.now()
    record_metric_values(
        values=[MetricValueIn(account.pk, usage.pk, 80, now - dt.timedelta(hours=2))]
    )
    recompute_dirty_accounts()
    process_score_events()
    assert Account.objects.get(pk=account.pk).computed_band == "green"
    record_metric_values(values=[MetricValueIn(account.pk, usage.pk, 12, now)])


def _red_event() -> ScoreEvent | None:
    return ScoreEvent.objects.filter(band="red").first()


def _blocked_on_playbooks() -> bool:
    """A server process waits for the lock on the playbooks table: a worker is evaluating
    the playbooks, holding its claim on the events."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND query ILIKE %s AND datname = current_database()",
            ["%playbooks_playbook%"],
        )
        return bool(cursor.fetchone()[0])


def _event_lock_released(event_id: int) -> bool:
    """Nobody holds the event's row any more (the dead worker's transaction is over)."""
    with psycopg.connect(database_url_for_current_test_db()) as conn:
        try:
            conn.execute(
                "SELECT 1 FROM scoring_scoreevent WHERE id = %s FOR UPDATE NOWAIT", [event_id]
            )
        except psycopg.errors.LockNotAvailable:
            return False
    return True


def test_a_worker_killed_after_the_recompute_loses_no_firing(
    processes: Processes,
    csm: User,
    account: Account,
    usage: MetricDefinition,
    red_playbook: Playbook,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _green_then_dirty_red(account, usage, monkeypatch)
    # Beat runs from the start, as in production; its first sweep is due 20 s later.
    processes.beat()
    # Hold the playbooks table: the worker will recompute and commit, then block while
    # evaluating the playbooks for the new event. That is where it dies.
    with psycopg.connect(database_url_for_current_test_db()) as lock:
        lock.execute("LOCK TABLE playbooks_playbook IN ACCESS EXCLUSIVE MODE")
        worker = processes.worker("doomed")
        app.send_task("scoring.tasks.recompute_dirty", queue=qualified(processes.queue, RECOMPUTE))
        assert wait_for(
            lambda: Account.objects.get(pk=account.pk).computed_band == "red", timeout=30
        ), processes.logs()
        assert wait_for(_blocked_on_playbooks, timeout=30), processes.logs()
        worker.kill()  # SIGKILL: nothing in flight finishes or is acknowledged
        # The recompute committed (score, history, the event); the firing did not happen.
        event = _red_event()
        assert event is not None and event.processed_at is None
        lock.rollback()  # the table is free again; the dead worker's transaction ends
    assert wait_for(lambda: _event_lock_released(event.pk), timeout=30)
    assert not Task.objects.exists()
    event.refresh_from_db()
    assert event.processed_at is None

    # Restarted: nobody sends anything, beat's sweep finds the event.
    processes.worker("restarted")
    assert wait_for(
        lambda: Task.objects.filter(playbook=red_playbook).exists(), timeout=SWEEP_TIMEOUT
    ), processes.logs()
    time.sleep(3)  # room for a (wrong) second firing
    [task] = Task.objects.filter(playbook=red_playbook)
    assert task.account == account and task.assignee == csm
    event.refresh_from_db()
    assert event.processed_at is not None


def test_a_dropped_nudge_loses_no_firing(
    processes: Processes,
    csm: User,
    account: Account,
    usage: MetricDefinition,
    red_playbook: Playbook,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _green_then_dirty_red(account, usage, monkeypatch)
    processes.beat()  # its first sweep is due 20 s from now
    # The recompute runs in a process of its own that sends to this test's queue, as a
    # worker on it would: on commit it asks the playbooks (by name) to look.
    result = subprocess.run(
        [sys.executable, "manage.py", "recompute_scores"],
        cwd=ROOT,
        env={**os.environ, **processes.env, "CELERY_QUEUE": processes.queue},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert Account.objects.get(pk=account.pk).computed_band == "red"
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    # The nudges (one per score-event consumer, each on its task's queue), waiting for a
    # worker.
    queues = {
        qualified(processes.queue, TASK_QUEUES[c["task"]])
        for c in settings.SCORE_EVENT_CONSUMERS.values()
    }
    assert sum(broker.llen(q) for q in queues) == len(settings.SCORE_EVENT_CONSUMERS)
    broker.delete(*queues)  # Redis loses them
    event = _red_event()
    assert event is not None and event.processed_at is None

    processes.worker("worker")
    assert wait_for(
        lambda: Task.objects.filter(playbook=red_playbook).exists(), timeout=SWEEP_TIMEOUT
    ), processes.logs()
    time.sleep(3)
    assert Task.objects.filter(playbook=red_playbook, account=account).count() == 1
    event.refresh_from_db()
    assert not event.pending & settings.SCORE_EVENT_CONSUMERS["playbooks"]["bit"]
