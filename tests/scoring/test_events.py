"""The score-event outbox: what writes events, how consumers claim them, and the prune."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import psycopg
import pytest
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Account, Feedback, User
from scoring.models import MetricDefinition, Scorecard, ScoreEvent
from scoring.services.events import (
    RETENTION,
    claim_score_events,
    consumer_bit,
    mark_processed,
    prune_score_events,
)
from scoring.services.feedback import log_feedback
from tests.conftest import database_url_for_current_test_db
from tests.scoring.conftest import Ingest

pytestmark = pytest.mark.django_db

PLAYBOOKS = "playbooks"
# A second consumer beside playbooks (its nudge runs playbooks' task again: harmless).
TWO_CONSUMERS = {
    "playbooks": {"bit": 1, "task": "playbooks.process_score_events"},
    "sender": {"bit": 4, "task": "playbooks.process_score_events"},
}


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
    claimed = claim_score_events(PLAYBOOKS)
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
    claimed = claim_score_events(PLAYBOOKS, limit=1)
    assert claimed.ids == (first.pk,)
    [change] = claimed.changes
    assert (change.account_id, change.previous_band, change.band) == (account.pk, "yellow", "red")
    mark_processed(PLAYBOOKS, ids=claimed.ids)
    assert claim_score_events(PLAYBOOKS).ids == (second.pk,)


def test_processed_events_are_pruned_after_the_retention_period(account: Account) -> None:
    now = timezone.now()
    old = _event(account, processed_at=now - RETENTION - dt.timedelta(hours=1))
    recent = _event(account, processed_at=now - RETENTION + dt.timedelta(hours=1))
    waiting = _event(account, created_at=now - RETENTION * 2)  # never processed: kept
    assert prune_score_events(now=now) == 1
    assert set(ScoreEvent.objects.values_list("pk", flat=True)) == {recent.pk, waiting.pk}
    assert not ScoreEvent.objects.filter(pk=old.pk).exists()


def test_each_consumer_sees_each_event_once_and_the_last_one_processes_it(
    account: Account, settings: Any
) -> None:
    settings.SCORE_EVENT_CONSUMERS = TWO_CONSUMERS
    event = _event(account)
    assert event.pending == 1 | 4
    claimed = claim_score_events("sender")
    assert claimed.ids == (event.pk,) and claimed.changes[0].event_id == event.pk
    assert mark_processed("sender", ids=claimed.ids) == 1
    assert mark_processed("sender", ids=claimed.ids) == 0  # a retry changes nothing
    assert claim_score_events("sender").ids == ()
    event.refresh_from_db()
    assert (event.pending, event.processed_at) == (1, None)  # playbooks has yet to see it
    assert claim_score_events(PLAYBOOKS).ids == (event.pk,)
    moment = timezone.now()
    mark_processed(PLAYBOOKS, ids=[event.pk], now=moment)
    event.refresh_from_db()
    assert (event.pending, event.processed_at) == (0, moment)


def test_an_unknown_consumer_is_a_clear_error(account: Account) -> None:
    with pytest.raises(ValueError, match="'nobody' is not a score-event consumer"):
        claim_score_events("nobody")


def test_the_recompute_and_feedback_write_every_consumers_bit(
    csm: User,
    account: Account,
    default_scorecard: Scorecard,
    wau: MetricDefinition,
    ingest: Ingest,
    settings: Any,
) -> None:
    settings.SCORE_EVENT_CONSUMERS = TWO_CONSUMERS
    ingest(account, wau, 80)  # the recompute's COPY (PostgreSQL) or executemany (SQLite)
    log_feedback(user=csm, account=account, kind=Feedback.Kind.NPS, score=2)
    events = list(ScoreEvent.objects.order_by("id"))
    assert [e.kind for e in events] == ["score", "feedback"]
    # Whatever playbooks (eager here) has done, the sender has yet to see both.
    assert all(e.pending & 4 and e.processed_at is None for e in events)
    assert len(claim_score_events("sender").ids) == 2


def test_the_prune_clears_the_bits_of_a_retired_consumer(account: Account, settings: Any) -> None:
    now = timezone.now()
    settings.SCORE_EVENT_CONSUMERS = TWO_CONSUMERS
    orphan = _event(account, pending=4, created_at=now - RETENTION * 2)
    waiting = _event(account, pending=1 | 4)
    settings.SCORE_EVENT_CONSUMERS = {"playbooks": TWO_CONSUMERS["playbooks"]}
    assert prune_score_events(now=now) == 0  # processed just now: kept for the retention
    orphan.refresh_from_db()
    waiting.refresh_from_db()
    assert (orphan.pending, orphan.processed_at) == (0, now)
    assert (waiting.pending, waiting.processed_at) == (1, None)
    assert prune_score_events(now=now + RETENTION + dt.timedelta(seconds=1)) == 1


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
        mine = claim_score_events(PLAYBOOKS, limit=2)
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

    def waiting_for_playbooks() -> int:  # other consumers (the CRM write-back) may lag
        bit = consumer_bit("playbooks")
        return sum(
            1 for pending in ScoreEvent.objects.values_list("pending", flat=True) if pending & bit
        )

    process_score_events(batch_size=1, max_batches=2)
    assert waiting_for_playbooks() == 1
    process_score_events()
    assert waiting_for_playbooks() == 0
