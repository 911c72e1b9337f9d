"""Writes of the scoring app: metric values in, scores out.

The flow: ``record_metric_values`` stores values and marks the accounts dirty (a row in
PostgreSQL, same transaction) → on commit, ``schedule_recompute`` asks for one coalesced
``recompute_dirty`` task (many ingests in the same second → one task) → the task claims
dirty rows in batches and calls ``recompute_scores`` → after each batch commits,
``playbooks.services.evaluate_score_changes`` sees what changed. The minute sweep runs
the same task, so a lost message or a Redis outage only delays work.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Account, Activity
from scoring import engine, selectors
from scoring.models import DirtyAccount, MetricValue, Score, ScoreOverride

log = logging.getLogger(__name__)

BULK_BATCH = 2000


@dataclass(frozen=True)
class MetricValueIn:
    account_id: int
    metric_id: int
    value: float
    observed_at: datetime  # aware


@dataclass(frozen=True)
class ScoreChange:
    """An account whose computed score or band changed in a recompute (playbooks react)."""

    account_id: int
    score_id: int | None
    previous_score: float | None
    previous_band: str
    score: float | None
    band: str
    computed_at: datetime


def record_metric_values(*, values: Sequence[MetricValueIn], source: str = "") -> int:
    """Store ``values`` (already validated by the caller: ids exist, finite numbers, aware
    datetimes) and mark their accounts dirty, in one transaction. Idempotent: the same
    (account, metric, observed_at) again updates the value (within the batch, last wins).
    Returns the number of values stored."""
    latest: dict[tuple[int, int, datetime], float] = {}
    for item in values:
        latest[(item.account_id, item.metric_id, item.observed_at)] = float(item.value)
    if not latest:
        return 0
    rows = [
        MetricValue(account_id=a, metric_id=m, observed_at=t, value=v)
        for (a, m, t), v in latest.items()
    ]
    with transaction.atomic():
        MetricValue.objects.bulk_create(
            rows,
            batch_size=BULK_BATCH,
            update_conflicts=True,
            unique_fields=["account", "metric", "observed_at"],
            update_fields=["value"],
        )
        mark_accounts_dirty(
            account_ids={a for a, _, _ in latest}, reason=(source or "metric values")[:32]
        )
    return len(rows)


def mark_accounts_dirty(*, account_ids: Iterable[int], reason: str) -> None:
    """Durably mark accounts for recompute and ask (on commit) for a coalesced recompute.

    An account already dirty keeps its older ``marked_at`` (the sweep serves oldest first)."""
    ids = sorted(set(account_ids))
    if not ids:
        return
    now = timezone.now()
    with transaction.atomic():
        DirtyAccount.objects.bulk_create(
            [DirtyAccount(account_id=i, marked_at=now, reason=reason[:32]) for i in ids],
            batch_size=BULK_BATCH,
            ignore_conflicts=True,
        )
        transaction.on_commit(schedule_recompute)


# --- coalescing --------------------------------------------------------------------------

COALESCE_SECONDS = 1.0


def _pending_key() -> str:
    return f"chs:{settings.CELERY_TASK_DEFAULT_QUEUE}:scoring:recompute-pending"


def _redis() -> object | None:
    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://")):
        return None
    import redis

    return redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)


def schedule_recompute() -> bool:
    """Ask for one ``recompute_dirty`` task COALESCE_SECONDS from now, unless one is already
    pending. Returns True if a task was sent.

    The pending flag (Redis ``SET NX``) is cleared by the task *before* it claims dirty rows,
    so a value committed after the claim always schedules a new task: coalescing never
    loses work. The dirty table is the truth; if Redis is down, the minute sweep catches up."""
    from scoring import tasks

    if settings.CELERY_TASK_ALWAYS_EAGER or tasks.app_is_eager():
        tasks.recompute_dirty.apply()
        return True
    try:
        client = _redis()
        if client is not None and not client.set(  # type: ignore[attr-defined]
            _pending_key(), "1", nx=True, px=int(COALESCE_SECONDS * 1000) + 30_000
        ):
            return False
        tasks.recompute_dirty.apply_async(countdown=COALESCE_SECONDS, retry=False)
    except Exception:  # the broker is down: the minute sweep will pick the accounts up
        log.warning("could not schedule a recompute; the sweep will do it", exc_info=True)
        return False
    return True


def clear_pending_flag() -> None:
    try:
        client = _redis()
        if client is not None:
            client.delete(_pending_key())  # type: ignore[attr-defined]
    except Exception:
        log.warning("could not clear the recompute-pending flag", exc_info=True)


# --- recompute ---------------------------------------------------------------------------

RECOMPUTE_BATCH = 1000
TREND_DAYS = 30


@dataclass
class RecomputeResult:
    accounts: int = 0
    history_rows: int = 0
    changes: int = 0
    batches: int = 0
    tasks_created: int = 0

    def add(self, other: RecomputeResult) -> None:
        self.accounts += other.accounts
        self.history_rows += other.history_rows
        self.changes += other.changes
        self.batches += other.batches
        self.tasks_created += other.tasks_created


def recompute_scores(
    *,
    account_ids: Sequence[int] | None = None,
    at: datetime | None = None,
    batch_size: int = RECOMPUTE_BATCH,
    progress: Callable[[int], None] | None = None,
) -> RecomputeResult:
    """Recompute the given accounts (all when None) in batches of ``batch_size``.

    Each batch is one transaction and a fixed number of queries (see
    ``_recompute_batch``); after it commits, playbooks see the changes."""
    total = RecomputeResult()
    if account_ids is None:
        ids = list(Account.objects.order_by("id").values_list("id", flat=True))
    else:
        ids = sorted(set(account_ids))
    for start in range(0, len(ids), batch_size):
        chunk = ids[start : start + batch_size]
        total.add(_run_batch(chunk, at=at))
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
    return recompute_scores(account_ids=ids, at=at)


def account_id_chunks(*, chunk_size: int = 5000) -> list[tuple[int, int]]:
    """(first_id, last_id) ranges of about ``chunk_size`` accounts (nightly chunks)."""
    ids = list(Account.objects.order_by("id").values_list("id", flat=True))
    return [
        (ids[i], ids[min(i + chunk_size, len(ids)) - 1]) for i in range(0, len(ids), chunk_size)
    ]


def recompute_dirty_accounts(*, batch_size: int = RECOMPUTE_BATCH) -> RecomputeResult:
    """Claim dirty accounts batch by batch and recompute them, until none is left.

    On PostgreSQL the claim is ``DELETE … WHERE account_id IN (SELECT … FOR UPDATE SKIP
    LOCKED) RETURNING``, inside the batch's transaction: several workers share the dirty
    set without waiting on each other, and a failed batch rolls back, so its markers
    return. Accounts marked again while being recomputed stay dirty for the next round."""
    total = RecomputeResult()
    while True:
        with transaction.atomic():
            ids = _claim_dirty(batch_size)
            if not ids:
                break
            result, changes = _recompute_batch(ids, at=None)
        total.add(result)
        total.tasks_created += _after_batch(changes)
    return total


_SQL_CLAIM = """
DELETE FROM scoring_dirtyaccount WHERE account_id IN (
    SELECT account_id FROM scoring_dirtyaccount ORDER BY marked_at, account_id
    LIMIT %s FOR UPDATE SKIP LOCKED
) RETURNING account_id
"""


def _claim_dirty(limit: int) -> list[int]:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_SQL_CLAIM, [limit])
            return sorted(r[0] for r in cursor.fetchall())
    # SQLite: one writer at a time (IMMEDIATE transactions), so a plain read + delete is safe.
    ids = list(
        DirtyAccount.objects.order_by("marked_at", "account_id").values_list(
            "account_id", flat=True
        )[:limit]
    )
    DirtyAccount.objects.filter(account_id__in=ids).delete()
    return sorted(ids)


def _run_batch(ids: Sequence[int], *, at: datetime | None) -> RecomputeResult:
    with transaction.atomic():
        # The batch's own dirty markers are consumed by this recompute.
        DirtyAccount.objects.filter(account_id__in=ids).delete()
        result, changes = _recompute_batch(ids, at=at)
    result.tasks_created += _after_batch(changes)
    return result


def _after_batch(changes: list[ScoreChange]) -> int:
    if not changes:
        return 0
    from playbooks.services import evaluate_score_changes

    return int(evaluate_score_changes(changes=changes) or 0)


def _recompute_batch(
    ids: Sequence[int], *, at: datetime | None
) -> tuple[RecomputeResult, list[ScoreChange]]:
    """Recompute one batch inside the caller's transaction. Queries, whatever the batch size:
    lock accounts, scorecards (2), window stats (2–3), newest score, score 30 days ago,
    active overrides, insert history, update accounts, insert band activities."""
    accounts = list(
        Account.objects.select_for_update(no_key=True)
        .filter(id__in=ids)
        .order_by("id")
        .only(
            "id",
            "segment",
            "health_score",
            "health_band",
            "computed_score",
            "computed_band",
            "computed_at",
            "score_change_30d",
            "top_mover",
        )
    )
    if not accounts:
        return RecomputeResult(), []
    # The moment is taken after the lock: two recomputes of the same account serialise on
    # it, and the later one sees the earlier one's history row.
    at = at or timezone.now()
    specs = selectors.active_scorecard_specs()
    acc_ids = [a.id for a in accounts]
    stats = selectors.window_stats_for(account_ids=acc_ids, specs=specs.values(), at=at)
    previous = selectors.latest_scores(account_ids=acc_ids)
    month_ago = selectors.latest_scores(account_ids=acc_ids, at=at - timedelta(days=TREND_DAYS))
    overrides = active_overrides(account_ids=acc_ids, at=at)

    new_scores: list[Score] = []
    band_activities: list[Activity] = []
    pending_changes: list[tuple[Score | None, ScoreChange]] = []
    for account in accounts:
        spec = selectors.spec_for_segment(specs, account.segment)
        prev = previous.get(account.id)
        if spec is None:
            score: float | None
            score, band, breakdown, row = None, "", [], None
        else:
            result = engine.score_from_stats(spec, stats.get(account.id, {}), at=at)
            score, band, breakdown = result.score, result.band, result.breakdown()
            row = None
            if (
                prev is None
                or prev.score != score
                or prev.band != band
                or prev.scorecard_id != spec.id
                or prev.breakdown != breakdown
            ):
                row = Score(
                    account_id=account.id,
                    scorecard_id=spec.id,
                    score=score,
                    band=band,
                    computed_at=at,
                    breakdown=breakdown,
                )
                new_scores.append(row)
        old_score, old_band = account.computed_score, account.computed_band
        past = month_ago.get(account.id)
        account.computed_score, account.computed_band, account.computed_at = score, band, at
        account.score_change_30d = (
            engine.round1(score - past.score)
            if score is not None and past and past.score is not None
            else None
        )
        top = engine.movers(past.breakdown, breakdown, limit=1) if past is not None else []
        account.top_mover = top[0].sentence[:200] if top else ""
        override = overrides.get(account.id)
        account.health_score, account.health_band = effective_health(score, band, override, spec)
        if old_score != score or old_band != band:
            pending_changes.append(
                (
                    row,
                    ScoreChange(
                        account_id=account.id,
                        score_id=None,
                        previous_score=old_score,
                        previous_band=old_band,
                        score=score,
                        band=band,
                        computed_at=at,
                    ),
                )
            )
            if old_band != band:
                band_activities.append(
                    Activity(
                        account_id=account.id,
                        kind=Activity.Kind.BAND_CHANGED,
                        occurred_at=at,
                        summary=_band_summary(old_band, band, score),
                        details={"from": old_band, "to": band, "score": score},
                    )
                )
    Score.objects.bulk_create(new_scores, batch_size=BULK_BATCH)
    Account.objects.bulk_update(
        accounts,
        [
            "health_score",
            "health_band",
            "computed_score",
            "computed_band",
            "computed_at",
            "score_change_30d",
            "top_mover",
        ],
        batch_size=len(accounts),
    )
    if band_activities:
        Activity.objects.bulk_create(band_activities, batch_size=BULK_BATCH)
    changes = [
        ScoreChange(**{**change.__dict__, "score_id": row.pk if row is not None else None})
        for row, change in pending_changes
    ]
    result = RecomputeResult(
        accounts=len(accounts), history_rows=len(new_scores), changes=len(changes), batches=1
    )
    return result, changes


def _band_summary(old: str, new: str, score: float | None) -> str:
    shown = "no data" if score is None else f"{score:.1f}"
    if not old:
        return f"Health band set to {new or 'no data'} (score {shown})."
    return f"Health band changed from {old} to {new or 'no data'} (score {shown})."


def active_overrides(*, account_ids: Sequence[int], at: datetime) -> dict[int, ScoreOverride]:
    """The newest active (not revoked, not expired) override per account, one query."""
    found: dict[int, ScoreOverride] = {}
    for o in ScoreOverride.objects.filter(
        account_id__in=account_ids, revoked_at__isnull=True, expires_at__gt=at
    ).order_by("account_id", "-created_at", "-id"):
        found.setdefault(o.account_id, o)
    return found


def effective_health(
    score: float | None,
    band: str,
    override: ScoreOverride | None,
    spec: engine.ScorecardSpec | None,
) -> tuple[float | None, str]:
    """What people see: the override while active, else the computed value. A score
    override also sets the band the scorecard gives that score."""
    if override is None:
        return score, band
    if override.score is not None:
        red_below = spec.red_below if spec else 40.0
        green_at = spec.green_at if spec else 70.0
        return override.score, engine.band_for(
            override.score, red_below=red_below, green_at=green_at
        )
    return score, override.band
