"""The score-event outbox (``ScoreEvent``): written with the change, claimed by consumers.

Writers: the recompute (one event per account whose computed score or band changed, by
COPY in the batch's transaction) and feedback logging (one per detractor answer). Each
write asks, on commit, for the consumer tasks named in ``settings.SCORE_EVENT_CONSUMERS``
(by name: scoring never imports the apps above it). A consumer calls
``claim_score_events`` and ``mark_processed`` inside one transaction with whatever it
does about them, so an event is handled exactly once or not at all; its beat sweep runs
the same task every few seconds, so a lost message or a killed worker only delays it.
``prune_score_events`` drops processed events after ``RETENTION``."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from chs_site.celery import app
from chs_site.sql import COPY_NULL, copy_float, copy_text, json_text
from scoring.contracts import FeedbackSignal, ScoreChange
from scoring.models import ScoreEvent

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
    " previous_band, score, band, breakdown, created_at) FROM STDIN"
)


def insert_score_events(events: Sequence[ScoreEventIn]) -> None:
    """Write score events inside the caller's transaction (one COPY on PostgreSQL) and
    nudge the consumers once it commits."""
    if not events:
        return
    kind = ScoreEvent.Kind.SCORE.value
    if connection.vendor == "postgresql":
        stamps: dict[dt.datetime, str] = {}  # a batch shares one moment: format it once
        lines = [
            f"{kind}\t{e.account_id}\t{_id(e.scorecard_id)}\t{_id(e.score_row_id)}\t"
            f"{copy_float(e.previous_score)}\t{e.previous_band}\t{copy_float(e.score)}\t"
            f"{e.band}\t{COPY_NULL if e.breakdown is None else copy_text(json_text(e.breakdown))}\t"
            f"{stamps.get(e.at) or stamps.setdefault(e.at, e.at.isoformat())}\n"
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
                " previous_score, previous_band, score, band, breakdown, created_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
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
    """Ask each consumer task (by name) to look at the outbox now. Without a broker the
    task runs here and now; with one, a failed send is logged and left to the consumer's
    beat sweep (the events are in PostgreSQL, so nothing is lost)."""
    for name in settings.SCORE_EVENT_CONSUMERS:
        if app.conf.task_always_eager:
            if name not in app.tasks:
                app.loader.import_default_modules()  # registers every app's tasks by name
            app.tasks[name].apply()
            continue
        try:
            app.send_task(name, retry=False)
        except BrokerError:
            log.warning("could not nudge %s; its beat sweep will serve the events", name)


@dataclass(frozen=True)
class ClaimedEvents:
    ids: tuple[int, ...]
    changes: tuple[ScoreChange, ...]
    feedback: tuple[FeedbackSignal, ...]

    def __bool__(self) -> bool:
        return bool(self.ids)


def claim_score_events(*, limit: int = CLAIM_BATCH) -> ClaimedEvents:
    """The oldest unprocessed events, locked for the caller's transaction (``FOR UPDATE
    SKIP LOCKED``: consumers running side by side take different events). The caller
    marks them processed (``mark_processed``) before it commits."""
    rows = list(
        ScoreEvent.objects.select_for_update(skip_locked=True)
        .filter(processed_at__isnull=True)
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
        _,
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
            )
        )
    return ClaimedEvents(tuple(r[0] for r in rows), tuple(changes), tuple(feedback))


def mark_processed(*, ids: Sequence[int], now: dt.datetime | None = None) -> int:
    return ScoreEvent.objects.filter(id__in=list(ids), processed_at__isnull=True).update(
        processed_at=now or timezone.now()
    )


def prune_score_events(*, now: dt.datetime | None = None) -> int:
    """Delete events processed more than ``RETENTION`` ago; returns how many."""
    cutoff = (now or timezone.now()) - RETENTION
    deleted, _ = ScoreEvent.objects.filter(processed_at__lt=cutoff).delete()
    return deleted
