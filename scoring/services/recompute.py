"""The recompute: dirty (or all) accounts in, scores, history and score events out.

``recompute_dirty_accounts`` claims dirty markers batch by batch (several workers share
them with ``SKIP LOCKED``); ``recompute_scores`` takes given accounts (publish, the nightly
chunks, the command line). Each batch is one transaction with a fixed number of queries
(``_recompute_batch``): the engine scores every account of a scorecard as arrays, and the
rows go in by COPY (``scoring.services.history``), together with one ``ScoreEvent`` per
account whose score or band changed. On commit the playbooks are nudged by task name
(``scoring.services.events.nudge_consumers``); their beat sweep serves whatever a lost
message left, so a crash between the two loses nothing."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Account
from chs_site.celery import TRANSIENT_ERRORS
from chs_site.sql import id_array
from scoring import engine
from scoring.selectors.history import latest_score_rows
from scoring.selectors.scorecards import active_scorecard_specs, spec_for_segment
from scoring.selectors.window_stats import stats_table
from scoring.services.dirty import (
    claim_dirty,
    delete_dirty_markers,
    mark_all_accounts_due_later,
)
from scoring.services.events import ScoreEventIn, changed_measures, insert_score_events
from scoring.services.history import (
    ScoreRowIn,
    insert_band_activities,
    insert_score_rows,
    update_account_health,
)
from scoring.services.overrides import active_overrides, effective_health
from scoring.services.quarantine import quarantine_account

RECOMPUTE_BATCH = 1000
TREND_DAYS = 30
# The nightly recompute's unit of work: one id-range chunk per task, one batch per chunk
# (larger batches spend less per account on each statement's fixed cost; a chunk's
# accounts stay locked for the second or two its batch takes).
NIGHTLY_CHUNK = 5000


@dataclass
class RecomputeResult:
    accounts: int = 0
    history_rows: int = 0
    changes: int = 0  # score events written: accounts whose score or band changed
    batches: int = 0
    quarantined: int = 0  # accounts set aside because their recompute failed

    def add(self, other: RecomputeResult) -> None:
        self.accounts += other.accounts
        self.history_rows += other.history_rows
        self.changes += other.changes
        self.batches += other.batches
        self.quarantined += other.quarantined


def recompute_scores(
    *,
    account_ids: Sequence[int] | None = None,
    at: datetime | None = None,
    batch_size: int = RECOMPUTE_BATCH,
    progress: Callable[[int], None] | None = None,
) -> RecomputeResult:
    """Recompute the given accounts (all when None) in batches of ``batch_size``; each
    batch also consumes its accounts' dirty markers. One transaction per batch."""
    total = RecomputeResult()
    if account_ids is None:
        ids = list(Account.objects.order_by("id").values_list("id", flat=True))
    else:
        ids = sorted(set(account_ids))
    for start in range(0, len(ids), batch_size):
        chunk = ids[start : start + batch_size]
        with transaction.atomic():
            delete_dirty_markers(chunk)
            total.add(recompute_isolating(chunk, at=at))
        if progress is not None:
            progress(len(chunk))
    return total


def recompute_account_range(
    *, first_id: int, last_id: int, at: datetime | None = None
) -> RecomputeResult:
    ids = list(
        Account.objects.filter(id__gte=first_id, id__lte=last_id)
        .order_by("id")
        .values_list("id", flat=True)
    )
    return recompute_scores(account_ids=ids, at=at, batch_size=NIGHTLY_CHUNK)


def lease_nightly_chunks(*, at: datetime | None = None) -> int:
    """Before the nightly chunks go out as messages, every account is marked dirty, due
    NIGHTLY_LEASE_SECONDS from now; each chunk deletes its accounts' markers as it scores them.
    A chunk lost with its worker (``kill -9``, out of memory) leaves its markers, and the
    minute sweep scores those accounts once the lease runs out, instead of the message
    waiting for the broker's one-hour visibility timeout."""
    due = (at or timezone.now()) + timedelta(seconds=settings.NIGHTLY_LEASE_SECONDS)
    return mark_all_accounts_due_later(due_at=due, reason="nightly")


def account_id_chunks(*, chunk_size: int = NIGHTLY_CHUNK) -> list[tuple[int, int]]:
    """(first_id, last_id) ranges of about ``chunk_size`` accounts (nightly chunks)."""
    ids = list(Account.objects.order_by("id").values_list("id", flat=True))
    return [
        (ids[i], ids[min(i + chunk_size, len(ids)) - 1]) for i in range(0, len(ids), chunk_size)
    ]


def recompute_dirty_accounts(
    *, batch_size: int = RECOMPUTE_BATCH, max_batches: int | None = None
) -> RecomputeResult:
    """Claim dirty accounts batch by batch and recompute them, until none is left.

    The claim (``claim_dirty``: ``DELETE … SKIP LOCKED … RETURNING``) runs inside the
    batch's transaction: several workers share the dirty set without waiting on each
    other, and a failed batch rolls back, so its markers return. Accounts marked again
    while being recomputed stay dirty for the next round."""
    total = RecomputeResult()
    while max_batches is None or total.batches < max_batches:
        with transaction.atomic():
            ids = claim_dirty(batch_size)
            if not ids:
                break
            total.add(recompute_isolating(ids, at=None))
    return total


# Errors that say "try again later" for every account alike: they end the task (which
# retries), never quarantine an account.
_NOT_THE_ACCOUNTS_FAULT: tuple[type[BaseException], ...] = (
    *TRANSIENT_ERRORS,
    SoftTimeLimitExceeded,
)


def recompute_isolating(ids: Sequence[int], *, at: datetime | None) -> RecomputeResult:
    """``_recompute_batch`` in a savepoint; when it fails for a reason of the data, the
    halves are tried apart until the failing account stands alone and is quarantined
    (``scoring.services.quarantine``). The other accounts of the batch are scored, and the
    caller's transaction (its dirty-marker claim) goes on. One bad account costs about
    2·log2(batch) extra attempts, once: afterwards it is skipped."""
    try:
        with transaction.atomic():
            return _recompute_batch(ids, at=at)
    except _NOT_THE_ACCOUNTS_FAULT:
        raise
    except Exception as exc:
        if len(ids) == 1:
            quarantine_account(ids[0], exc)
            return RecomputeResult(quarantined=1)
        middle = len(ids) // 2
        result = recompute_isolating(ids[:middle], at=at)
        result.add(recompute_isolating(ids[middle:], at=at))
        return result


def _recompute_batch(ids: Sequence[int], *, at: datetime | None) -> RecomputeResult:
    """Recompute one batch inside the caller's transaction. Queries, whatever the batch size:
    lock accounts, scorecards (2), metric ids, window stats (1, plus 1 when some values went
    stale), newest score, score 30 days ago, active overrides, insert history, update
    accounts, insert band activities, insert score events.

    The engine scores each scorecard's accounts as arrays in one call and writes their
    breakdowns as JSON text a column at a time; history rows take that text, and dicts are
    only read back for accounts whose previous score needs comparing, that have a score
    30 days ago to explain the trend against, or whose change must say which measures
    moved."""
    accounts = _lock_accounts(ids)
    if not accounts:
        return RecomputeResult()
    # The moment is taken after the lock: two recomputes of the same account serialise on
    # it, and the later one sees the earlier one's history row.
    at = at or timezone.now()
    specs = active_scorecard_specs()
    acc_ids = [a[0] for a in accounts]
    table = stats_table(account_ids=acc_ids, specs=specs.values(), at=at)
    previous = latest_score_rows(account_ids=acc_ids)
    month_ago = latest_score_rows(account_ids=acc_ids, at=at - timedelta(days=TREND_DAYS))
    overrides = active_overrides(account_ids=acc_ids, at=at)

    # Accounts grouped by their scorecard, each group scored by the engine in one call.
    groups: dict[int, list[int]] = defaultdict(list)
    spec_by_segment: dict[str, engine.ScorecardSpec | None] = {}
    for k, (_, segment, _, _) in enumerate(accounts):
        if segment not in spec_by_segment:
            spec_by_segment[segment] = spec_for_segment(specs, segment)
        groups[id(spec_by_segment[segment])].append(k)
    scored: list[tuple[engine.ScorecardSpec | None, engine.BatchScores | None, int]] = [
        (None, None, 0)
    ] * len(accounts)
    for members in groups.values():
        spec = spec_by_segment[accounts[members[0]][1]]
        if spec is None:
            continue
        rows = table.rows_of([acc_ids[k] for k in members])
        group_scores = engine.score_batch(
            spec, *engine.measure_values(spec, table.for_scorecard(spec, rows))
        )
        for pos, k in enumerate(members):
            scored[k] = (spec, group_scores, pos)

    # Rows as plain tuples (ScoreRowIn, ScoreEventIn): model instances cost more than the
    # rest of the loop.
    new_scores: list[ScoreRowIn] = []
    updates: list[tuple[Any, ...]] = []
    band_activities: list[tuple[int, str, float | None, str]] = []
    # (history row index or None, the event without its history row id)
    pending_events: list[tuple[int | None, ScoreEventIn]] = []
    for k, (account_id, _, old_score, old_band) in enumerate(accounts):
        spec, batch, pos = scored[k]
        prev = previous.get(account_id)
        past = month_ago.get(account_id)
        row: int | None = None  # index into new_scores
        breakdown: list[dict[str, Any]] | None
        if spec is None or batch is None:
            score: float | None
            score, band, breakdown = None, "", []
        else:
            score, band, breakdown = batch.score_at(pos), batch.band_at(pos), None
            if score is not None and not math.isfinite(score):
                raise ArithmeticError(f"account {account_id} scored {score} (not a finite number)")
            changed = (
                prev is None
                or prev.score != score
                or prev.band != band
                or prev.scorecard_id != spec.id
            )
            if not changed:
                breakdown = batch.breakdown(pos)
                changed = prev is not None and prev.breakdown != breakdown
            if changed:
                row = len(new_scores)
                new_scores.append(
                    (account_id, int(spec.id or 0), score, band, at, batch.breakdown_json(pos))
                )
        change_30d = (
            engine.round1(score - past.score)
            if score is not None and past and past.score is not None
            else None
        )
        top_mover = ""
        if past is not None:
            if breakdown is None:
                assert batch is not None
                breakdown = batch.breakdown(pos)
            top = engine.movers(past.breakdown, breakdown, limit=1)
            top_mover = top[0].sentence[:200] if top else ""
        health_score, health_band = effective_health(score, band, overrides.get(account_id), spec)
        updates.append(
            (account_id, health_score, health_band, score, band, at, change_30d, top_mover)
        )
        if old_score != score or old_band != band:
            moved: list[dict[str, Any]] | None = None  # a first score: everything is new
            if prev is not None:
                if breakdown is None:
                    assert batch is not None
                    breakdown = batch.breakdown(pos)
                moved = changed_measures(prev.breakdown, breakdown)
            pending_events.append(
                (
                    row,
                    ScoreEventIn(
                        account_id=account_id,
                        scorecard_id=spec.id if spec is not None else None,
                        score_row_id=None,
                        previous_score=old_score,
                        previous_band=old_band,
                        score=score,
                        band=band,
                        breakdown=moved,
                        at=at,
                    ),
                )
            )
            if old_band != band:
                band_activities.append((account_id, old_band, score, band))
    score_ids = insert_score_rows(new_scores)
    update_account_health(updates)
    insert_band_activities(band_activities, at=at)
    insert_score_events(
        [
            event if row is None else event._replace(score_row_id=score_ids[row])
            for row, event in pending_events
        ]
    )
    return RecomputeResult(
        accounts=len(accounts),
        history_rows=len(new_scores),
        changes=len(pending_events),
        batches=1,
    )


def _lock_accounts(ids: Sequence[int]) -> list[tuple[int, str, float | None, str]]:
    """(id, segment, computed_score, computed_band) of the accounts, locked, by id; the
    quarantined ones are left out."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id, segment, computed_score, computed_band FROM accounts_account a"
                " WHERE id = ANY(%s::bigint[]) AND NOT EXISTS ("
                "SELECT 1 FROM scoring_quarantinedaccount q WHERE q.account_id = a.id)"
                " ORDER BY id FOR NO KEY UPDATE OF a",
                [id_array(ids)],
            )
            return [tuple(r) for r in cursor.fetchall()]  # type: ignore[misc]
    return list(
        Account.objects.select_for_update(no_key=True)
        .filter(id__in=ids, quarantine__isnull=True)
        .order_by("id")
        .values_list("id", "segment", "computed_score", "computed_band")
    )
