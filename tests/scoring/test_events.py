"""The score-event outbox: what writes events, how consumers claim them, and the prune."""

from __future__ import annotations

import datetime as dt
import threading

import psycopg
import pytest
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Account, Feedback, User
from scoring.models import MetricDefinition, Scorecard, ScoreEvent
from scoring.services.events import (
    RETENTION,
    claim_score_events,
    mark_processed,
    prune_score_events,
)
from scoring.services.feedback import log_feedback
from tests.conftest import database_url_for_current_test_db
from tests.scoring.conftest import Ingest

pytestmark = pytest.mark.django_db


def _event(account: Account, **fields: object) -> ScoreEvent:
    defaults: dict[str, object] = {
        "kind": ScoreEvent.Kind.SCORE,
        "account": account,
        "score": 30.0,
        "band": "red",
        "created_at": timezone.now(),
    }
    return ScoreEvent.objects.create(**{**defaults, **fields})


def test_only_detractor_feedback_writes_an_event(csm: User, account: Account) -> None:
    log_feedback(user=csm, account=account, kind=Feedback.Kind.NPS, score=9)
    log_feedback(user=csm, account=account, kind=Feedback.Kind.CALL, text="Fine", sentiment="")
    assert not ScoreEvent.objects.exists()
    nps = log_feedback(user=csm, account=account, kind=Feedback.Kind.NPS, score=6)
    call = log_feedback(
        user=csm, account=account, kind=Feedback.Kind.CALL, text="Angry", sentiment="negative"
    )
    events = list(ScoreEvent.objects.order_by("id"))
    assert [(e.kind, e.feedback_id) for e in events] == [
        ("feedback", nps.pk),
        ("feedback", call.pk),
    ]
    claimed = claim_score_events()
    assert [f.feedback_id for f in claimed.feedback] == [nps.pk, call.pk]
    assert claimed.changes == ()


def test_an_unchanged_score_writes_no_event(
    account: Account, default_scorecard: Scorecard, wau: MetricDefinition, ingest: Ingest
) -> None:
    ingest(account, wau, 80)
    ingest(account, wau, 80, days_ago=1)  # an older value: the latest is still 80
    assert ScoreEvent.objects.filter(account=account).count() == 1


def test_claimed_events_come_back_as_score_changes_oldest_first(account: Account) -> None:
    first = _event(account, previous_score=50.0, previous_band="yellow")
    second = _event(account, score=20.0, previous_score=30.0, previous_band="red")
    claimed = claim_score_events(limit=1)
    assert claimed.ids == (first.pk,)
    [change] = claimed.changes
    assert (change.account_id, change.previous_band, change.band) == (account.pk, "yellow", "red")
    mark_processed(ids=claimed.ids)
    assert claim_score_events().ids == (second.pk,)


def test_processed_events_are_pruned_after_the_retention_period(account: Account) -> None:
    now = timezone.now()
    old = _event(account, processed_at=now - RETENTION - dt.timedelta(hours=1))
    recent = _event(account, processed_at=now - RETENTION + dt.timedelta(hours=1))
    waiting = _event(account, created_at=now - RETENTION * 2)  # never processed: kept
    assert prune_score_events(now=now) == 1
    assert set(ScoreEvent.objects.values_list("pk", flat=True)) == {recent.pk, waiting.pk}
    assert not ScoreEvent.objects.filter(pk=old.pk).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_consumers_at_once_claim_different_events(account: Account) -> None:
    ids = [_event(account).pk for _ in range(4)]
    holding = threading.Event()
    release = threading.Event()
    taken_by_other: list[int] = []

    def other_consumer() -> None:
        # A second worker's connection: it claims while this one holds its claim open.
        with psycopg.connect(database_url_for_current_test_db()) as conn:
            rows = conn.execute(
                "SELECT id FROM scoring_scoreevent WHERE processed_at IS NULL"
                " ORDER BY id LIMIT 2 FOR UPDATE SKIP LOCKED"
            ).fetchall()
            taken_by_other.extend(r[0] for r in rows)
            holding.set()
            release.wait(10)

    with transaction.atomic():
        mine = claim_score_events(limit=2)
        thread = threading.Thread(target=other_consumer)
        thread.start()
        assert holding.wait(10)
        release.set()
        thread.join(10)
    assert mine.ids == tuple(ids[:2])
    assert taken_by_other == ids[2:]  # skipped the locked ones instead of waiting for them
    assert connection.vendor == "postgresql"


def test_a_bounded_consumer_run_leaves_the_rest_for_the_next(account: Account) -> None:
    from playbooks.services.firing import process_score_events

    for _ in range(3):
        _event(account)
    process_score_events(batch_size=1, max_batches=2)
    assert ScoreEvent.objects.filter(processed_at__isnull=True).count() == 1
    process_score_events()
    assert not ScoreEvent.objects.filter(processed_at__isnull=True).exists()
