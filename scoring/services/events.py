"""The score-event outbox (``ScoreEvent``): written with the change, claimed by consumers.

Writers: the recompute (one event per account whose computed score or band changed, by
COPY in the batch's transaction) and feedback logging (one per detractor answer). Each
event starts with the bit of every consumer in ``settings.SCORE_EVENT_CONSUMERS`` set in
``pending``, and each write asks, on commit, for the consumers' tasks (by name: scoring
never imports the apps above it). A consumer calls ``claim_score_events`` and
``mark_processed`` with its name inside one transaction with whatever it does about them,
so each consumer handles an event exactly once or not at all, whatever the others do; its
beat sweep runs the same task every few seconds, so a lost message or a killed worker only
delays it. ``prune_score_events`` drops events every consumer processed after
``RETENTION``, and clears the bits of consumers no longer configured."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, DateTimeField, F, Value, When
from django.db.models.lookups import Exact
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from chs_site.celery import app, nudge_by_name
from chs_site.sql import COPY_NULL, copy_float, copy_text, json_text
from scoring.contracts import FeedbackSignal, ScoreChange
from scoring.models import ScoreEvent, all_consumers

log = logging.getLogger(__name__)

RETENTION = dt.timedelta(days=7)
CLAIM_BATCH = 500


class ScoreEventIn(NamedTuple):
    """A score change on its way into the outbox (plain tuple: the recompute writes
    thousands per batch)."""

    account_id: int
    scorecard_id: int | None
    score_row_id: int | None
    previous_score: float | None
    previous_band: str
    score: float | None
    band: str
    breakdown: list[dict[str, Any]] | None
    at: dt.datetime


def changed_measures(
    previous: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The rows of breakdown ``new`` whose value, points or staleness differ from the same
    measure's row in ``previous`` (or that ``previous`` lacks)."""
    before = {row.get("metric"): row for row in previous}
    out = []
    for row in new:
        old = before.get(row.get("metric"))
        if old is None or any(old.get(k) != row.get(k) for k in ("value", "points", "stale")):
            out.append(dict(row))
    return out


_SQL_COPY_EVENTS = (
    "COPY scoring_scoreevent (kind, account_id, scorecard_id, score_row_id, previous_score,"
    " previous_band, score, band, breakdown, created_at, pending) FROM STDIN"
)


def insert_score_events(events: Sequence[ScoreEventIn]) -> None:
    """Write score events inside the caller's transaction (one COPY on PostgreSQL) and
    nudge the consumers once it commits."""
    if not events:
        return
    kind = ScoreEvent.Kind.SCORE.value
    pending = all_consumers()
    if connection.vendor == "postgresql":
        stamps: dict[dt.datetime, str] = {}  # a batch shares one moment: format it once
        lines = [
            f"{kind}\t{e.account_id}\t{_id(e.scorecard_id)}\t{_id(e.score_row_id)}\t"
            f"{copy_float(e.previous_score)}\t{e.previous_band}\t{copy_float(e.score)}\t"
            f"{e.band}\t{COPY_NULL if e.breakdown is None else copy_text(json_text(e.breakdown))}\t"
            f"{stamps.get(e.at) or stamps.setdefault(e.at, e.at.isoformat())}\t{pending}\n"
            for e in events
        ]
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(_SQL_COPY_EVENTS) as copy,  # type: ignore[attr-defined]
        ):
            copy.write("".join(lines))
    else:
        # One executemany (bulk_create splits at SQLite's 999 parameters: 99 events a query).
        adapt = connection.ops.adapt_datetimefield_value
        with connection.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO scoring_scoreevent (kind, account_id, scorecard_id, score_row_id,"
                " previous_score, previous_band, score, band, breakdown, created_at, pending)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    (
                        kind,
                        e.account_id,
                        e.scorecard_id,
                        e.score_row_id,
                        e.previous_score,
                        e.previous_band,
                        e.score,
                        e.band,
                        None if e.breakdown is None else json_text(e.breakdown),
                        adapt(e.at),
                        pending,
                    )
                    for e in events
                ],
            )
    transaction.on_commit(nudge_consumers)


def record_feedback_event(*, account_id: int, feedback_id: int, at: dt.datetime) -> None:
    """A detractor answer or negative feedback, for the consumers (inside the caller's
    transaction, which also wrote the feedback)."""
    ScoreEvent.objects.create(
        kind=ScoreEvent.Kind.FEEDBACK, account_id=account_id, feedback_id=feedback_id, created_at=at
    )
    transaction.on_commit(nudge_consumers)


def _id(value: int | None) -> str:
    return COPY_NULL if value is None else str(value)


def nudge_consumers() -> None:
    """Ask each consumer task (by name) to look at the outbox now (``nudge_by_name``: a
    lost nudge is left to the consumer's beat sweep; the events are in PostgreSQL)."""
    nudge_by_name(c["task"] for c in settings.SCORE_EVENT_CONSUMERS.values())


@dataclass(frozen=True)
class ClaimedEvents:
    ids: tuple[int, ...]
    changes: tuple[ScoreChange, ...]
    feedback: tuple[FeedbackSignal, ...]

    def __bool__(self) -> bool:
        return bool(self.ids)


def consumer_bit(consumer: str) -> int:
    """The ``pending`` bit of a consumer named in ``settings.SCORE_EVENT_CONSUMERS``."""
    try:
        return int(settings.SCORE_EVENT_CONSUMERS[consumer]["bit"])
    except KeyError:
        raise ValueError(
            f"{consumer!r} is not a score-event consumer: add it to SCORE_EVENT_CONSUMERS"
        ) from None


def claim_score_events(consumer: str, *, limit: int = CLAIM_BATCH) -> ClaimedEvents:
    """The oldest events ``consumer`` has not processed, locked for the caller's
    transaction (``FOR UPDATE SKIP LOCKED``: workers side by side take different events).
    The caller marks them processed (``mark_processed``) before it commits."""
    bit = consumer_bit(consumer)
    rows = list(
        ScoreEvent.objects.select_for_update(skip_locked=True)
        .alias(mine=F("pending").bitand(bit))
        .filter(processed_at__isnull=True, mine__gt=0)
        .order_by("id")
        .values_list(
            "id",
            "kind",
            "account_id",
            "scorecard_id",
            "score_row_id",
            "previous_score",
            "previous_band",
            "score",
            "band",
            "breakdown",
            "feedback_id",
            "created_at",
        )[:limit]
    )
    changes: list[ScoreChange] = []
    feedback: list[FeedbackSignal] = []
    for (
        event_id,
        kind,
        account_id,
        scorecard_id,
        score_row_id,
        previous_score,
        previous_band,
        score,
        band,
        breakdown,
        feedback_id,
        created_at,
    ) in rows:
        if kind == ScoreEvent.Kind.FEEDBACK:
            feedback.append(FeedbackSignal(account_id, feedback_id, created_at))
            continue
        changes.append(
            ScoreChange(
                account_id=account_id,
                previous_score=previous_score,
                previous_band=previous_band,
                score=score,
                band=band,
                computed_at=created_at,
                scorecard_id=scorecard_id,
                score_id=score_row_id,
                breakdown=tuple(breakdown) if breakdown is not None else None,
                event_id=event_id,
            )
        )
    ids = tuple(r[0] for r in rows)
    if len(rows) < limit and not app.conf.task_always_eager:
        _ask_again_if_others_hold(consumer, bit, ids)
    return ClaimedEvents(ids, tuple(changes), tuple(feedback))


# Another consumer may hold an event (its own claim, for its own bit) while this one claims:
# SKIP LOCKED passes it by, so this consumer asks for itself again a moment later instead
# of leaving the event to its beat sweep (up to 20 s).
RECLAIM_AFTER_SECONDS = 1.0


def _ask_again_if_others_hold(consumer: str, bit: int, claimed: Sequence[int]) -> None:
    waiting = (
        ScoreEvent.objects.alias(mine=F("pending").bitand(bit))
        .filter(processed_at__isnull=True, mine__gt=0)
        .exclude(id__in=list(claimed))
        .exists()
    )
    if not waiting:
        return
    task = settings.SCORE_EVENT_CONSUMERS[consumer]["task"]

    def ask() -> None:
        try:
            app.send_task(task, countdown=RECLAIM_AFTER_SECONDS, retry=False)
        except BrokerError:
            log.warning("could not ask %s again; its beat sweep will serve the events", task)

    transaction.on_commit(ask)


def mark_processed(consumer: str, *, ids: Sequence[int], now: dt.datetime | None = None) -> int:
    """Clear ``consumer``'s bit on events ``ids``; an event whose last bit clears is
    processed at ``now``. Returns how many events this consumer had still pending."""
    bit = consumer_bit(consumer)
    return _clear_bits(
        ScoreEvent.objects.alias(mine=F("pending").bitand(bit)).filter(
            id__in=list(ids), processed_at__isnull=True, mine__gt=0
        ),
        keep=~bit,
        now=now or timezone.now(),
    )


def _clear_bits(events: Any, *, keep: int, now: dt.datetime) -> int:
    remaining = F("pending").bitand(keep)
    return int(
        events.update(
            pending=remaining,
            processed_at=Case(
                When(Exact(remaining, 0), then=Value(now)),
                default=None,
                output_field=DateTimeField(),
            ),
        )
    )


def prune_score_events(*, now: dt.datetime | None = None) -> int:
    """Delete events processed more than ``RETENTION`` ago; returns how many. Bits of
    consumers no longer configured are cleared first, so their events can go too."""
    now = now or timezone.now()
    known = all_consumers()
    _clear_bits(
        ScoreEvent.objects.alias(orphaned=F("pending").bitand(~known)).filter(
            processed_at__isnull=True, orphaned__gt=0
        ),
        keep=known,
        now=now,
    )
    deleted, _ = ScoreEvent.objects.filter(processed_at__lt=now - RETENTION).delete()
    return deleted
