"""The Segment roll-up on real workers: a POST is rolled up by a real Celery worker within
seconds, and a roll-up worker killed (SIGKILL) mid-batch loses nothing and counts nothing
twice once another worker takes over."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.db import connection
from django.test import Client

from accounts.models import Account, User
from accounts.services.tokens import create_api_token
from chs_site.benchmarks import CeleryProcess
from chs_site.celery import app
from chs_site.queues import RECOMPUTE, qualified
from scoring.models import MetricDefinition, MetricValue, SegmentDailyCount, SegmentEvent
from scoring.services import segment as segment_service
from scoring.services.segment import ingest_segment
from scoring.services.segment_rollup import ACTIVE_USERS, EVENTS, rollup_segment_events
from scoring.services.segment_settings import update_segment_settings
from tests.conftest import database_url_for_current_test_db, wait_for
from tests.faults import Processes

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

DAY = dt.datetime(2026, 11, 2, 12, 0, tzinfo=dt.UTC)


def track(message_id: str, user: str, at: dt.datetime = DAY) -> dict[str, Any]:
    return {
        "type": "track",
        "messageId": message_id,
        "userId": user,
        "event": "Report Exported",
        "timestamp": at.isoformat(),
    }


def group(user: str, account: Account) -> dict[str, Any]:
    return {
        "type": "group",
        "messageId": f"g-{user}",
        "userId": user,
        "groupId": account.external_id,
    }


def daily(account: Account) -> dict[str, float]:
    return dict(
        MetricValue.objects.filter(account=account, observed_at=DAY.replace(hour=0)).values_list(
            "metric__key", "value"
        )
    )


def test_a_real_worker_rolls_up_what_was_posted(
    celery_worker_process: CeleryProcess, admin: User, account: Account
) -> None:
    update_segment_settings(actor=admin, enabled=True, tracked_events=["Report Exported"])
    key = create_api_token(user=admin, scope="ingest").key
    body = {
        "batch": [
            group("ann", account),
            group("bob", account),
            track("t1", "ann"),
            track("t2", "ann"),
            track("t3", "bob"),
        ]
    }
    auth = base64.b64encode(f"{key}:".encode()).decode()
    response = Client().post(
        "/api/v1/integrations/segment/",
        json.dumps(body),
        content_type="application/json",
        headers={"Authorization": f"Basic {auth}"},
    )
    assert response.status_code == 200
    assert wait_for(lambda: not SegmentEvent.objects.exists(), timeout=30), (
        celery_worker_process.log_tail()
    )
    assert daily(account) == {
        ACTIVE_USERS: 2.0,
        EVENTS: 3.0,
        "segment_event_report_exported": 3.0,
    }


def _rollup_waiting_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND query ILIKE %s AND datname = current_database()",
            ["%scoring_segmentdailycount%"],
        )
        return bool(cursor.fetchone()[0])


def test_a_rollup_worker_killed_mid_batch_loses_nothing_and_counts_nothing_twice(
    tmp_path: Path, admin: User, account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    update_segment_settings(actor=admin, enabled=True)
    # Only the workers this test starts roll up: no nudge to the suite's worker.
    monkeypatch.setattr(segment_service, "schedule_rollup", lambda: False)
    ingest_segment(user=admin, body={"batch": [group(f"u{i}", account) for i in range(5)]})
    ingest_segment(user=admin, body={"batch": [track("first", "u0")]})
    rollup_segment_events()  # the day's rows exist: the next batch updates them
    ingest_segment(
        user=admin,
        body={"batch": [track(f"t{i}", f"u{i % 5}") for i in range(40)]},
    )
    assert SegmentEvent.objects.count() == 40
    events_metric = MetricDefinition.objects.get(key=EVENTS)
    counted = SegmentDailyCount.objects.get(account=account, metric=events_metric)

    def send_rollup(queue: str) -> None:
        with app.connection_for_write() as conn:
            app.send_task(
                "scoring.tasks.rollup_segment",
                connection=conn,
                queue=qualified(queue, RECOMPUTE),
            )

    processes = Processes(tmp_path)
    try:
        with psycopg.connect(database_url_for_current_test_db()) as lock:
            lock.execute(
                "SELECT 1 FROM scoring_segmentdailycount WHERE id = %s FOR UPDATE", [counted.pk]
            )
            doomed = processes.worker("doomed")
            send_rollup(processes.queue)
            # Claimed, users inserted, now waiting to add to the day's count: mid-batch.
            assert wait_for(_rollup_waiting_on_a_lock, timeout=30), processes.logs()
            doomed.kill()  # SIGKILL: PostgreSQL rolls its transaction back
            lock.rollback()
        assert wait_for(lambda: not _rollup_waiting_on_a_lock(), timeout=10)
        assert SegmentEvent.objects.count() == 40  # every claimed event is back
        assert daily(account) == {ACTIVE_USERS: 1.0, EVENTS: 1.0}

        processes.worker("restarted")
        send_rollup(processes.queue)  # what beat's minute sweep sends
        assert wait_for(lambda: not SegmentEvent.objects.exists(), timeout=30), processes.logs()
        assert wait_for(lambda: daily(account).get(EVENTS) == 41.0, timeout=10)
        assert daily(account) == {ACTIVE_USERS: 5.0, EVENTS: 41.0}
    finally:
        processes.stop()
