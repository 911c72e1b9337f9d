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
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import Account, Activity, HealthBand, User
from accounts.selectors import visible_accounts
from chs_site.errors import ApplicationError, PermissionDenied, ValidationFailed
from scoring import engine, selectors
from scoring.models import (
    DirtyAccount,
    Measure,
    MetricDefinition,
    MetricValue,
    Score,
    Scorecard,
    ScoreOverride,
)

log = logging.getLogger(__name__)

BULK_BATCH = 2000


# Logged feedback becomes the ``sentiment`` metric with these values (DESIGN: 0–100 scale).
SENTIMENT_METRIC = "sentiment"
SENTIMENT_VALUES = {"positive": 100.0, "neutral": 50.0, "negative": 0.0}


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
    with transaction.atomic():
        if connection.vendor == "postgresql":
            _upsert_metric_values_pg(latest)
        else:
            MetricValue.objects.bulk_create(
                [
                    MetricValue(account_id=a, metric_id=m, observed_at=t, value=v)
                    for (a, m, t), v in latest.items()
                ],
                batch_size=BULK_BATCH,
                update_conflicts=True,
                unique_fields=["account", "metric", "observed_at"],
                update_fields=["value"],
            )
        mark_accounts_dirty(
            account_ids={a for a, _, _ in latest}, reason=(source or "metric values")[:32]
        )
    return len(latest)


# One statement per chunk: four typed arrays unnested server-side. Building a model object
# per value (bulk_create) cost ~85% of an ingest request; this keeps 10 000 values well under
# 100 ms. The chunk bounds the statement's parameter size, not its row count.
_UPSERT_CHUNK = 20_000
_UPSERT_SQL = """
    INSERT INTO scoring_metricvalue (account_id, metric_id, observed_at, value)
    SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::timestamptz[], %s::float8[])
    ON CONFLICT (account_id, metric_id, observed_at) DO UPDATE SET value = EXCLUDED.value
"""


def _upsert_metric_values_pg(latest: dict[tuple[int, int, datetime], float]) -> None:
    items = list(latest.items())
    with connection.cursor() as cursor:
        for start in range(0, len(items), _UPSERT_CHUNK):
            chunk = items[start : start + _UPSERT_CHUNK]
            cursor.execute(
                _UPSERT_SQL,
                [
                    [a for (a, _, _), _ in chunk],
                    [m for (_, m, _), _ in chunk],
                    [t for (_, _, t), _ in chunk],
                    [v for _, v in chunk],
                ],
            )


def load_metric_values(rows: Iterable[tuple[int, int, datetime, float]]) -> int:
    """Bulk-load (account_id, metric_id, observed_at, value) rows that are known to be new
    (demo data, benchmarks): COPY on PostgreSQL, executemany elsewhere. Marks nothing dirty
    and fails on a duplicate; ``record_metric_values`` is the path for outside data."""
    count = 0
    columns = "(account_id, metric_id, observed_at, value)"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY scoring_metricvalue {columns} FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in rows:
                    copy.write_row(row)
                    count += 1
            return count
        adapt = connection.ops.adapt_datetimefield_value
        batch: list[tuple[Any, ...]] = []
        sql = f"INSERT INTO scoring_metricvalue {columns} VALUES (%s, %s, %s, %s)"
        for a, m, t, v in rows:
            batch.append((a, m, adapt(t), v))
            if len(batch) >= 10_000:
                cursor.executemany(sql, batch)
                count += len(batch)
                batch = []
        if batch:
            cursor.executemany(sql, batch)
            count += len(batch)
    return count


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
    # Per queue: the processes that share a queue (web, workers) share the flag.
    from chs_site.celery import app

    return f"chs:{app.conf.task_default_queue}:scoring:recompute-pending"


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


# The nightly recompute's unit of work: one id-range chunk per task, one batch per chunk
# (larger batches spend less per account on each statement's fixed cost; a chunk's
# accounts stay locked for the second or two its batch takes).
NIGHTLY_CHUNK = 5000


def recompute_account_range(
    *, first_id: int, last_id: int, at: datetime | None = None
) -> RecomputeResult:
    ids = list(
        Account.objects.filter(id__gte=first_id, id__lte=last_id)
        .order_by("id")
        .values_list("id", flat=True)
    )
    return recompute_scores(account_ids=ids, at=at, batch_size=NIGHTLY_CHUNK)


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

    On PostgreSQL the claim is ``DELETE … WHERE account_id IN (SELECT … FOR UPDATE SKIP
    LOCKED) RETURNING``, inside the batch's transaction: several workers share the dirty
    set without waiting on each other, and a failed batch rolls back, so its markers
    return. Accounts marked again while being recomputed stay dirty for the next round."""
    total = RecomputeResult()
    while max_batches is None or total.batches < max_batches:
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
        _delete_dirty_markers(ids)
        result, changes = _recompute_batch(ids, at=at)
    result.tasks_created += _after_batch(changes)
    return result


def _delete_dirty_markers(ids: Sequence[int]) -> None:
    if connection.vendor == "postgresql":  # one array parameter, not one per id
        with connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM scoring_dirtyaccount WHERE account_id = ANY(%s::bigint[])",
                [selectors.id_array(ids)],
            )
        return
    DirtyAccount.objects.filter(account_id__in=ids).delete()


def _after_batch(changes: list[ScoreChange]) -> int:
    if not changes:
        return 0
    from playbooks.services import evaluate_score_changes

    return int(evaluate_score_changes(changes=changes) or 0)


def _recompute_batch(
    ids: Sequence[int], *, at: datetime | None
) -> tuple[RecomputeResult, list[ScoreChange]]:
    """Recompute one batch inside the caller's transaction. Queries, whatever the batch size:
    lock accounts, scorecards (2), metric ids, window stats (1, plus 1 when some values went
    stale), newest score, score 30 days ago, active overrides, insert history, update
    accounts, insert band activities.

    The engine scores each scorecard's accounts as arrays in one call and writes their
    breakdowns as JSON text a column at a time; history rows take that text, and dicts are
    only read back for accounts whose previous score needs comparing or that have a score
    30 days ago to explain the trend against."""
    accounts = _lock_accounts(ids)
    if not accounts:
        return RecomputeResult(), []
    # The moment is taken after the lock: two recomputes of the same account serialise on
    # it, and the later one sees the earlier one's history row.
    at = at or timezone.now()
    specs = selectors.active_scorecard_specs()
    acc_ids = [a[0] for a in accounts]
    table = selectors.stats_table(account_ids=acc_ids, specs=specs.values(), at=at)
    previous = selectors.latest_score_rows(account_ids=acc_ids)
    month_ago = selectors.latest_score_rows(account_ids=acc_ids, at=at - timedelta(days=TREND_DAYS))
    overrides = active_overrides(account_ids=acc_ids, at=at)

    # Accounts grouped by their scorecard, each group scored by the engine in one call.
    groups: dict[int, list[int]] = defaultdict(list)
    spec_by_segment: dict[str, engine.ScorecardSpec | None] = {}
    for k, (_, segment, _, _) in enumerate(accounts):
        if segment not in spec_by_segment:
            spec_by_segment[segment] = selectors.spec_for_segment(specs, segment)
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

    # History rows as plain tuples (ScoreRowIn): model instances cost more than the rest of
    # the loop.
    new_scores: list[ScoreRowIn] = []
    updates: list[tuple[Any, ...]] = []
    band_activities: list[tuple[int, str, float | None, str]] = []
    pending_changes: list[tuple[int | None, int, float | None, str, float | None, str]] = []
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
            pending_changes.append((row, account_id, old_score, old_band, score, band))
            if old_band != band:
                band_activities.append((account_id, old_band, score, band))
    score_ids = insert_score_rows(new_scores)
    _update_account_health(updates)
    _insert_band_activities(band_activities, at=at)
    changes = [
        ScoreChange(
            account_id=account_id,
            score_id=score_ids[row] if row is not None else None,
            previous_score=old_score,
            previous_band=old_band,
            score=score,
            band=band,
            computed_at=at,
        )
        for row, account_id, old_score, old_band, score, band in pending_changes
    ]
    done = RecomputeResult(
        accounts=len(accounts), history_rows=len(new_scores), changes=len(changes), batches=1
    )
    return done, changes


def _lock_accounts(ids: Sequence[int]) -> list[tuple[int, str, float | None, str]]:
    """(id, segment, computed_score, computed_band) of the accounts, locked, by id."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id, segment, computed_score, computed_band FROM accounts_account"
                " WHERE id = ANY(%s::bigint[]) ORDER BY id FOR NO KEY UPDATE",
                [selectors.id_array(ids)],
            )
            return [tuple(r) for r in cursor.fetchall()]  # type: ignore[misc]
    return list(
        Account.objects.select_for_update(no_key=True)
        .filter(id__in=ids)
        .order_by("id")
        .values_list("id", "segment", "computed_score", "computed_band")
    )


_SQL_COPY_ACTIVITIES = (
    "COPY accounts_activity (account_id, kind, occurred_at, summary, details) FROM STDIN"
)


def _insert_band_activities(
    rows: list[tuple[int, str, float | None, str]], *, at: datetime
) -> None:
    """One "band changed" activity per (account, old band, score, new band), one COPY."""
    if not rows:
        return
    kind = Activity.Kind.BAND_CHANGED.value
    if connection.vendor == "postgresql":
        stamp = at.isoformat()
        lines = [
            f"{account_id}\t{kind}\t{stamp}\t{_copy_text(band_summary(old, new, score))}\t"
            f"{_copy_text(_json_text({'from': old, 'to': new, 'score': score}))}\n"
            for account_id, old, score, new in rows
        ]
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(_SQL_COPY_ACTIVITIES) as copy,  # type: ignore[attr-defined]
        ):
            copy.write("".join(lines))
        return
    Activity.objects.bulk_create(
        [
            Activity(
                account_id=account_id,
                kind=kind,
                occurred_at=at,
                summary=band_summary(old, new, score),
                details={"from": old, "to": new, "score": score},
            )
            for account_id, old, score, new in rows
        ],
        batch_size=BULK_BATCH,
    )


_HEALTH_FIELDS = (
    "health_score",
    "health_band",
    "computed_score",
    "computed_band",
    "computed_at",
    "score_change_30d",
    "top_mover",
)

# Rows travel as one JSON document: one parameter to quote instead of thousands (psycopg's
# client-side array quoting costs seconds for a few thousand rows).
_SQL_UPDATE_HEALTH = """
UPDATE accounts_account AS a SET
    health_score = v.health_score, health_band = v.health_band,
    computed_score = v.computed_score, computed_band = v.computed_band,
    computed_at = v.computed_at, score_change_30d = v.score_change_30d, top_mover = v.top_mover
FROM jsonb_to_recordset(%s::jsonb) AS v(
    id bigint, health_score float8, health_band varchar, computed_score float8,
    computed_band varchar, computed_at timestamptz, score_change_30d float8, top_mover varchar)
WHERE a.id = v.id
"""


# The breakdown as a list of dicts or as its JSON text (what the batch recompute has).
ScoreRowIn = tuple[int, int, float | None, str, datetime, list[dict[str, Any]] | str]


def insert_scores(rows: list[Score]) -> None:
    """History rows, bulk (``insert_score_rows`` for model instances). Sets ``pk``."""
    ids = insert_score_rows(
        [(r.account_id, r.scorecard_id, r.score, r.band, r.computed_at, r.breakdown) for r in rows]
    )
    for row, pk in zip(rows, ids, strict=True):
        row.pk = pk


def insert_score_rows(rows: Sequence[ScoreRowIn]) -> list[int]:
    """History rows (account_id, scorecard_id, score, band, computed_at, breakdown), bulk;
    returns their ids. On PostgreSQL the ids are reserved in one query, then the rows go in
    by COPY (``bulk_create`` binds six parameters per row and is several times slower)."""
    if not rows:
        return []
    if connection.vendor != "postgresql":
        objs = Score.objects.bulk_create(
            [
                Score(
                    account_id=a,
                    scorecard_id=c,
                    score=score,
                    band=band,
                    computed_at=moment,
                    breakdown=orjson.loads(breakdown) if isinstance(breakdown, str) else breakdown,
                )
                for a, c, score, band, moment, breakdown in rows
            ],
            batch_size=BULK_BATCH,
        )
        return [int(o.pk) for o in objs]
    stamps: dict[datetime, str] = {}  # a batch shares one moment: format it once
    with connection.cursor() as cursor:
        cursor.execute(_SQL_RESERVE_SCORE_IDS, [len(rows)])
        ids = [pk for (pk,) in cursor.fetchall()]
        lines = [
            f"{pk}\t{a}\t{c}\t{_NULL if score is None else repr(float(score))}\t{band}\t"
            f"{stamps.get(moment) or stamps.setdefault(moment, moment.isoformat())}\t"
            f"{_copy_text(_json_text(breakdown))}\n"
            for pk, (a, c, score, band, moment, breakdown) in zip(ids, rows, strict=True)
        ]
        with cursor.cursor.copy(_SQL_COPY_SCORES) as copy:  # type: ignore[attr-defined]
            copy.write("".join(lines))
    return ids


def _json_text(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _copy_text(value: str) -> str:
    """A value in COPY's text format: backslashes, tabs and line breaks escaped."""
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return (
            value.replace("\\", "\\\\")
            .replace("\t", "\\t")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
        )
    return value


_NULL = "\\N"  # COPY text format
_SQL_RESERVE_SCORE_IDS = (
    "SELECT nextval(pg_get_serial_sequence('scoring_score', 'id')) FROM generate_series(1, %s)"
)
_SQL_COPY_SCORES = (
    "COPY scoring_score (id, account_id, scorecard_id, score, band, computed_at, breakdown)"
    " FROM STDIN"
)


def _update_account_health(rows: list[tuple[Any, ...]]) -> None:
    """The accounts' denormalised health in one statement; ``rows`` are (id, *_HEALTH_FIELDS)
    (``bulk_update`` builds a CASE per field per row, which costs seconds for a few thousand
    accounts)."""
    if not rows:
        return
    if connection.vendor == "postgresql":
        # orjson writes the aware datetimes as ISO 8601 with their offset.
        keys = ("id", *_HEALTH_FIELDS)
        doc = orjson.dumps([dict(zip(keys, r, strict=True)) for r in rows]).decode()
        with connection.cursor() as cursor:
            cursor.execute(_SQL_UPDATE_HEALTH, [doc])
        return
    adapt = connection.ops.adapt_datetimefield_value
    sets = ", ".join(f"{f} = %s" for f in _HEALTH_FIELDS)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE accounts_account SET {sets} WHERE id = %s",
            [(*r[1:5], adapt(r[5]), *r[6:], r[0]) for r in rows],
        )


def band_summary(old: str, new: str, score: float | None) -> str:
    shown = "no data" if score is None else f"{score:.1f}"
    if not old:
        return f"Health band set to {new or 'no data'} (score {shown})."
    return f"Health band changed from {old} to {new or 'no data'} (score {shown})."


def active_overrides(*, account_ids: Sequence[int], at: datetime) -> dict[int, ScoreOverride]:
    """The newest active (not revoked, not expired) override per account, one query."""
    found: dict[int, ScoreOverride] = {}
    qs = ScoreOverride.objects.filter(revoked_at__isnull=True, expires_at__gt=at)
    if connection.vendor == "postgresql":  # one array parameter, not one per id
        qs = qs.extra(
            where=["scoring_scoreoverride.account_id = ANY(%s::bigint[])"],
            params=[selectors.id_array(account_ids)],
        )
    else:
        qs = qs.filter(account_id__in=account_ids)
    for o in qs.order_by("account_id", "-created_at", "-id"):
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


# --- overrides ---------------------------------------------------------------------------


def override_score(
    *,
    account: Account,
    author: User | None,
    score: float | None = None,
    band: str | None = None,
    reason: str,
    expires_at: datetime,
) -> ScoreOverride:
    """Show ``score`` or ``band`` (exactly one) instead of the computed value until
    ``expires_at``. The computed score keeps being computed; ``revoke_override`` or the
    expiry (at the next recompute or sweep) ends it. A person may override the accounts they
    can see (CSM: own book, manager: team, admin: all); views 404 before getting here."""
    if author is not None and not visible_accounts(author).filter(pk=account.pk).exists():
        raise PermissionDenied("You can override the score only of accounts in your book or team.")
    errors: list[dict[str, str]] = []
    reason = (reason or "").strip()
    band = (band or "").strip()
    if not reason:
        errors.append({"field": "reason", "message": "Say why you override the score."})
    if (score is None) == (not band):
        errors.append(
            {"field": "score", "message": "Give either a score (0–100) or a band, not both."}
        )
    if score is not None and not (isinstance(score, int | float) and 0 <= score <= 100):
        errors.append({"field": "score", "message": "The score must be a number from 0 to 100."})
    if band and band not in HealthBand.values:
        errors.append(
            {"field": "band", "message": f"The band must be one of {', '.join(HealthBand.values)}."}
        )
    if expires_at is None or timezone.is_naive(expires_at):
        errors.append({"field": "expires_at", "message": "Give an expiry date with a time zone."})
    elif expires_at <= timezone.now():
        errors.append({"field": "expires_at", "message": "The expiry must be in the future."})
    if errors:
        raise ValidationFailed(
            "The override was not saved: " + " ".join(e["message"] for e in errors), errors=errors
        )
    with transaction.atomic():
        locked = Account.objects.select_for_update().get(pk=account.pk)
        override = ScoreOverride.objects.create(
            account=locked,
            author=author,
            score=None if score is None else float(score),
            band=band,
            reason=reason,
            expires_at=expires_at,
        )
        spec = selectors.spec_for_segment(selectors.active_scorecard_specs(), locked.segment)
        locked.health_score, locked.health_band = effective_health(
            locked.computed_score, locked.computed_band, override, spec
        )
        locked.save(update_fields=["health_score", "health_band"])
        shown = f"score {override.score:.0f}" if override.score is not None else f"band {band}"
        Activity.objects.create(
            account=locked,
            kind=Activity.Kind.OVERRIDE,
            actor=author,
            occurred_at=timezone.now(),
            summary=f"Health overridden to {shown} until {expires_at:%Y-%m-%d}: {reason}"[:300],
            details={"override_id": override.pk, "score": override.score, "band": band},
        )
    account.health_score, account.health_band = locked.health_score, locked.health_band
    return override


def revoke_override(*, override: ScoreOverride, author: User | None) -> ScoreOverride:
    """End an override now; the account shows its computed score again at once."""
    with transaction.atomic():
        locked = Account.objects.select_for_update().get(pk=override.account_id)
        override = ScoreOverride.objects.select_for_update().get(pk=override.pk)
        if override.revoked_at is not None:
            raise ApplicationError("This override was already revoked.")
        now = timezone.now()
        override.revoked_at = now
        override.save(update_fields=["revoked_at"])
        spec = selectors.spec_for_segment(selectors.active_scorecard_specs(), locked.segment)
        still = active_overrides(account_ids=[locked.pk], at=now).get(locked.pk)
        locked.health_score, locked.health_band = effective_health(
            locked.computed_score, locked.computed_band, still, spec
        )
        locked.save(update_fields=["health_score", "health_band"])
        Activity.objects.create(
            account=locked,
            kind=Activity.Kind.OVERRIDE,
            actor=author,
            occurred_at=now,
            summary="Health override revoked; the computed score applies again.",
            details={"override_id": override.pk, "revoked": True},
        )
    return override


# The account still shows something other than its computed value (NULL-safe comparison).
_health_differs_from_computed = (
    ~Q(account__health_band=F("account__computed_band"))
    | Q(account__health_score__isnull=True, account__computed_score__isnull=False)
    | Q(account__health_score__isnull=False, account__computed_score__isnull=True)
    | (
        Q(account__health_score__isnull=False, account__computed_score__isnull=False)
        & ~Q(account__health_score=F("account__computed_score"))
    )
)


def expire_overrides() -> int:
    """Accounts whose override ran out show their computed value again (the minute sweep
    calls this). Returns the number of accounts corrected."""
    now = timezone.now()
    stale_ids = list(
        ScoreOverride.objects.filter(revoked_at__isnull=True, expires_at__lte=now)
        .exclude(
            account__in=ScoreOverride.objects.filter(
                revoked_at__isnull=True, expires_at__gt=now
            ).values("account")
        )
        .filter(_health_differs_from_computed)
        .values_list("account_id", flat=True)
        .distinct()
    )
    if stale_ids:
        mark_accounts_dirty(account_ids=stale_ids, reason="override expired")
    return len(stale_ids)


# --- scorecards --------------------------------------------------------------------------


@dataclass(frozen=True)
class MeasureIn:
    metric_key: str
    weight: float
    aggregation: str = "latest"
    window_days: int = 30
    bad: float = 0.0
    good: float = 100.0


@transaction.atomic
def create_scorecard_draft(
    *,
    name: str,
    segment: str = "",
    red_below: float = 40.0,
    green_at: float = 70.0,
    missing_data: str = Scorecard.MissingData.IGNORE,
    measures: Sequence[MeasureIn],
    author: User | None = None,
    based_on: Scorecard | None = None,
) -> Scorecard:
    """A new draft version for ``segment`` (blank = the default scorecard)."""
    errors = validate_scorecard(
        name=name,
        red_below=red_below,
        green_at=green_at,
        missing_data=missing_data,
        measures=measures,
    )
    metric_ids = _check_measure_metrics(measures, errors)
    segment = segment.strip()
    last = Scorecard.objects.filter(segment=segment).order_by("-version").first()
    card = Scorecard.objects.create(
        name=name.strip(),
        segment=segment,
        version=(last.version + 1) if last else 1,
        red_below=red_below,
        green_at=green_at,
        missing_data=missing_data,
        created_by=author,
        based_on=based_on,
    )
    _write_measures(card, measures, metric_ids)
    return card


def _check_measure_metrics(
    measures: Sequence[MeasureIn], errors: list[dict[str, str]]
) -> dict[str, int]:
    """Metric ids by key for ``measures``; adds an error per unknown key to ``errors`` and
    raises them all (with the other validation errors) if there is any."""
    metric_ids = dict(
        MetricDefinition.objects.filter(key__in={m.metric_key for m in measures}).values_list(
            "key", "pk"
        )
    )
    for i, m in enumerate(measures):
        if m.metric_key not in metric_ids:
            errors.append(
                {
                    "index": str(i),
                    "field": "metric",
                    "message": f"No metric with key {m.metric_key!r}.",
                }
            )
    if errors:
        raise ValidationFailed(
            "The scorecard was not saved: " + "; ".join(e["message"] for e in errors), errors=errors
        )
    return metric_ids


def _write_measures(
    card: Scorecard, measures: Sequence[MeasureIn], metric_ids: dict[str, int]
) -> None:
    Measure.objects.bulk_create(
        Measure(
            scorecard=card,
            metric_id=metric_ids[m.metric_key],
            weight=m.weight,
            aggregation=m.aggregation,
            window_days=m.window_days,
            bad=m.bad,
            good=m.good,
            position=i,
        )
        for i, m in enumerate(measures)
    )


def validate_scorecard(
    *,
    name: str,
    red_below: float,
    green_at: float,
    missing_data: str,
    measures: Sequence[MeasureIn],
) -> list[dict[str, str]]:
    errors: list[dict[str, str]] = []
    if not (name or "").strip():
        errors.append({"field": "name", "message": "A scorecard needs a name."})
    if not (0 <= red_below <= green_at <= 100):
        errors.append(
            {"field": "red_below", "message": "Thresholds need 0 ≤ red_below ≤ green_at ≤ 100."}
        )
    if missing_data not in Scorecard.MissingData.values:
        errors.append(
            {
                "field": "missing_data",
                "message": f"missing_data must be one of {', '.join(Scorecard.MissingData.values)}.",
            }
        )
    if not measures:
        errors.append({"field": "measures", "message": "A scorecard needs at least one measure."})
    for i, m in enumerate(measures):
        where = {"index": str(i)}
        if not (m.weight > 0 and math.isfinite(m.weight)):
            errors.append(
                {**where, "field": "weight", "message": f"Measure {i}: the weight must be above 0."}
            )
        if m.aggregation not in Measure.Aggregation.values:
            errors.append(
                {
                    **where,
                    "field": "aggregation",
                    "message": f"Measure {i}: aggregation must be one of {', '.join(Measure.Aggregation.values)}.",
                }
            )
        if not (isinstance(m.window_days, int) and 1 <= m.window_days <= 3650):
            errors.append(
                {
                    **where,
                    "field": "window_days",
                    "message": f"Measure {i}: window_days must be 1–3650.",
                }
            )
        if m.bad == m.good or not (math.isfinite(m.bad) and math.isfinite(m.good)):
            errors.append(
                {
                    **where,
                    "field": "good",
                    "message": f"Measure {i}: bad and good must be different numbers.",
                }
            )
    return errors


@transaction.atomic
def publish_scorecard(*, scorecard: Scorecard, author: User | None = None) -> Scorecard:
    """Make a draft the active version of its segment, retire the one it replaces, and mark
    exactly the accounts it scores dirty (its segment; for the default scorecard every
    account whose segment has no scorecard of its own)."""
    card = Scorecard.objects.select_for_update().get(pk=scorecard.pk)
    if card.status != Scorecard.Status.DRAFT:
        raise ApplicationError(f"Only a draft can be published; this version is {card.status}.")
    if not card.measures.exists():
        raise ApplicationError("Add at least one measure before publishing.")
    previous = Scorecard.objects.filter(
        segment=card.segment, status=Scorecard.Status.ACTIVE
    ).first()
    if previous is not None:
        previous.status = Scorecard.Status.RETIRED
        previous.save(update_fields=["status"])
    card.status = Scorecard.Status.ACTIVE
    card.published_at = timezone.now()
    card.published_by = author
    card.change_summary = _change_summary(previous, card)
    card.save(update_fields=["status", "published_at", "published_by", "change_summary"])
    affected = Account.objects.all()
    if card.segment:
        affected = affected.filter(segment=card.segment)
    else:
        own = Scorecard.objects.filter(status=Scorecard.Status.ACTIVE).exclude(segment="")
        affected = affected.exclude(segment__in=own.values("segment"))
    mark_accounts_dirty(
        account_ids=affected.values_list("id", flat=True), reason="scorecard published"
    )
    scorecard.status, scorecard.published_at = card.status, card.published_at
    return card


def _change_summary(previous: Scorecard | None, card: Scorecard) -> list[str]:
    if previous is None:
        return ["First version for this segment."]
    old = {m.metric.key: m for m in previous.measures.select_related("metric")}
    new = {m.metric.key: m for m in card.measures.select_related("metric")}
    lines = []
    for key in sorted(new.keys() - old.keys()):
        lines.append(f"Added {new[key].metric.name}.")
    for key in sorted(old.keys() - new.keys()):
        lines.append(f"Removed {old[key].metric.name}.")
    for key in sorted(new.keys() & old.keys()):
        a, b = old[key], new[key]
        for f in ("weight", "aggregation", "window_days", "bad", "good"):
            if getattr(a, f) != getattr(b, f):
                lines.append(f"{b.metric.name}: {f} {getattr(a, f)} → {getattr(b, f)}.")
    for f in ("red_below", "green_at", "missing_data"):
        if getattr(previous, f) != getattr(card, f):
            lines.append(f"{f} {getattr(previous, f)} → {getattr(card, f)}.")
    return lines or ["No changes."]


# --- ingestion (issue 4): metric definitions, scorecard edits through the API, outcomes ----
# Appended by the ingestion work; the API and CSV importer call these. Its imports are
# module aliases of its own, so names imported at the top of the file never clash with them
# and the two halves merge without touching each other.

import datetime as _dt  # noqa: E402
import decimal as _decimal  # noqa: E402

from chs_site import errors as _errors  # noqa: E402
from scoring import models as _models  # noqa: E402


def create_metric_definition(
    *, key: str, name: str, unit: str = "", description: str = "", direction: str = "higher"
) -> MetricDefinition:
    if MetricDefinition.objects.filter(key=key).exists():
        raise ValidationFailed(
            "A metric with this key already exists.",
            errors=[{"field": "key", "reason": f"{key!r} is already defined"}],
        )
    return MetricDefinition.objects.create(
        key=key, name=name, unit=unit, description=description, direction=direction
    )


SCORECARD_FIELDS = ("name", "red_below", "green_at", "missing_data")
MEASURE_FIELDS = ("weight", "aggregation", "window_days", "bad", "good")


def _check_scorecard_editor(author: Any) -> None:
    if not getattr(author, "is_admin", False):
        raise _errors.PermissionDenied("Only admins may edit scorecards.")


def _measures_in(rows: Sequence[dict[str, Any]]) -> list[MeasureIn]:
    return [
        MeasureIn(metric_key=m["metric"], **{f: m[f] for f in MEASURE_FIELDS if f in m})
        for m in rows
    ]


def create_scorecard_from_data(*, author: Any, data: dict[str, Any]) -> Scorecard:
    """The API's create: a new draft version from serializer data (``measures`` as dicts
    with a ``metric`` key), through ``create_scorecard_draft``."""
    _check_scorecard_editor(author)
    return create_scorecard_draft(
        name=data.get("name", ""),
        segment=data.get("segment", "") or "",
        red_below=data.get("red_below", 40.0),
        green_at=data.get("green_at", 70.0),
        missing_data=data.get("missing_data", Scorecard.MissingData.IGNORE),
        measures=_measures_in(data.get("measures") or []),
        author=author,
    )


@transaction.atomic
def update_scorecard_draft(*, scorecard: Scorecard, author: Any, data: dict[str, Any]) -> Scorecard:
    """Edit a scorecard version. A draft is edited in place. An active or retired version
    is never changed: a new draft version based on it is created with the changes applied
    and returned (the caller tells by ``result.pk != scorecard.pk``). ``measures``, when
    given, replaces the whole list. The segment is fixed once created."""
    _check_scorecard_editor(author)
    card = Scorecard.objects.select_for_update().get(pk=scorecard.pk)
    if "segment" in data and (data["segment"] or "") != card.segment:
        raise ValidationFailed(
            "A scorecard's segment cannot change; create a new scorecard for that segment.",
            errors=[{"field": "segment", "reason": "cannot change once created"}],
        )
    fields = {f: data.get(f, getattr(card, f)) for f in SCORECARD_FIELDS}
    if data.get("measures") is not None:
        measures = _measures_in(data["measures"])
    else:
        measures = [
            MeasureIn(metric_key=m.metric.key, **{f: getattr(m, f) for f in MEASURE_FIELDS})
            for m in card.measures.select_related("metric")
        ]
    if card.status != Scorecard.Status.DRAFT:
        return create_scorecard_draft(
            segment=card.segment, measures=measures, author=author, based_on=card, **fields
        )

    metric_ids = _check_measure_metrics(measures, validate_scorecard(measures=measures, **fields))
    for f, value in fields.items():
        setattr(card, f, value.strip() if isinstance(value, str) else value)
    card.save(update_fields=list(SCORECARD_FIELDS))
    if data.get("measures") is not None:
        card.measures.all().delete()
        _write_measures(card, measures, metric_ids)
    return card


OUTCOME_VERBS = {
    "renewed": "Renewed",
    "churned": "Churned",
    "expanded": "Expanded",
    "contracted": "Contracted",
}


@transaction.atomic
def record_outcome(
    *,
    user: Any,
    account: Account,
    kind: str,
    occurred_at: _dt.date,
    arr_change: _decimal.Decimal | float | int,
    note: str = "",
) -> _models.Outcome:
    """Record a renewal, churn, expansion or contraction. Idempotent on (account, kind,
    date): sending it again returns the same row (updated if the ARR change or note
    differ), and only a real change writes a timeline row."""
    errors: list[dict[str, str]] = []
    if kind not in _models.Outcome.Kind.values:
        errors.append(
            {"field": "kind", "reason": f"use one of {', '.join(_models.Outcome.Kind.values)}"}
        )
    if isinstance(occurred_at, _dt.datetime) or not isinstance(occurred_at, _dt.date):
        errors.append({"field": "occurred_at", "reason": "must be a date (YYYY-MM-DD)"})
    elif occurred_at > timezone.localdate() + _dt.timedelta(days=1):
        errors.append({"field": "occurred_at", "reason": "is in the future"})
    try:
        change = _decimal.Decimal(str(arr_change)).quantize(_decimal.Decimal("0.01"))
        if not change.is_finite() or abs(change) >= _decimal.Decimal("1e12"):
            raise ArithmeticError
    except (ArithmeticError, ValueError):
        errors.append({"field": "arr_change", "reason": "must be a finite amount below 10^12"})
        change = _decimal.Decimal(0)
    if errors:
        raise ValidationFailed("The outcome is invalid; see details.", errors=errors)

    outcome, created = _models.Outcome.objects.select_for_update().get_or_create(
        account=account,
        kind=kind,
        occurred_at=occurred_at,
        defaults={"arr_change": change, "note": note, "recorded_by": user},
    )
    changed = not created and (outcome.arr_change != change or outcome.note != note)
    if changed:
        outcome.arr_change, outcome.note = change, note
        outcome.save(update_fields=["arr_change", "note"])
    if created or changed:
        sign = "+" if change > 0 else ""
        Activity.objects.create(
            account=account,
            kind=Activity.Kind.OUTCOME,
            actor=user,
            occurred_at=timezone.now(),
            summary=(
                f"{OUTCOME_VERBS[kind]} on {occurred_at:%Y-%m-%d} (ARR {sign}{change:,.2f})"
                + (" — updated" if changed else "")
            )[:300],
            details={
                "kind": kind,
                "occurred_at": occurred_at.isoformat(),
                "arr_change": str(change),
            },
        )
    return outcome


# --- rollback and history backfill (issue 7) ----------------------------------------------
# Appended as its own section so the halves of this shared file merge cleanly.

from datetime import UTC, date  # noqa: E402

BACKFILL_MAX_DAYS = 365
BACKFILL_CHUNK = 250


@transaction.atomic
def rollback_scorecard(*, scorecard: Scorecard, author: Any) -> Scorecard:
    """Make an earlier version's content active again, versioned: a new version copying it
    (``based_on`` = that version) is created and published, so who, when and the diff are
    kept like any publish, and the affected accounts are re-scored."""
    _check_scorecard_editor(author)
    card = Scorecard.objects.get(pk=scorecard.pk)
    if card.status == Scorecard.Status.ACTIVE:
        raise ApplicationError(f"Version {card.version} is already the active version.")
    if card.status == Scorecard.Status.DRAFT:
        raise ApplicationError("A draft has never been active; publish it instead.")
    measures = [
        MeasureIn(metric_key=m.metric.key, **{f: getattr(m, f) for f in MEASURE_FIELDS})
        for m in card.measures.select_related("metric")
    ]
    copy = create_scorecard_draft(
        name=card.name,
        segment=card.segment,
        red_below=card.red_below,
        green_at=card.green_at,
        missing_data=card.missing_data,
        measures=measures,
        author=author,
        based_on=card,
    )
    published = publish_scorecard(scorecard=copy, author=author)
    published.change_summary = [
        f"Rolled back to version {card.version}.",
        *published.change_summary,
    ]
    published.save(update_fields=["change_summary"])
    return published


@transaction.atomic
def start_backfill(*, scorecard: Scorecard, days: int, author: Any) -> Any:
    """Queue a job that rewrites the last ``days`` days of score history of the accounts the
    (active) version scores, one point per day, as if it had been active then."""
    from scoring.models import BackfillJob
    from scoring.tasks import run_backfill
    from scoring.validation import matched_accounts

    _check_scorecard_editor(author)
    if scorecard.status != Scorecard.Status.ACTIVE:
        raise ApplicationError("Only the active version can backfill history; publish it first.")
    if not isinstance(days, int) or not 1 <= days <= BACKFILL_MAX_DAYS:
        raise ValidationFailed(
            f"Backfill 1 to {BACKFILL_MAX_DAYS} days.",
            errors=[{"field": "days", "reason": f"must be 1–{BACKFILL_MAX_DAYS}"}],
        )
    # A job older than the task's time limit died with its worker; it no longer blocks.
    running = BackfillJob.objects.filter(
        scorecard__segment=scorecard.segment,
        status__in=[BackfillJob.Status.QUEUED, BackfillJob.Status.RUNNING],
        created_at__gte=timezone.now() - timedelta(hours=1),
    ).first()
    if running is not None:
        raise ApplicationError("A backfill for this segment is already running; wait for it.")
    job = BackfillJob.objects.create(
        scorecard=scorecard,
        days=days,
        total=matched_accounts(scorecard.segment).count(),
        created_by=author,
    )
    transaction.on_commit(lambda: run_backfill.delay(job.pk))
    return job


def backfill_moments(*, days: int, today: date) -> list[datetime]:
    """Noon UTC of each of the last ``days`` days before today (today keeps its live row)."""
    midnight = datetime.combine(today, datetime.min.time(), tzinfo=UTC)
    return [midnight - timedelta(days=k) + timedelta(hours=12) for k in range(days, 0, -1)]


def run_backfill(*, job_id: int, chunk_size: int = BACKFILL_CHUNK) -> Any:
    """The job: claimed with a conditional UPDATE (queued → running; a duplicate message
    finds nothing to claim), then account chunks, each one transaction: load the chunk's
    values once, score every day with the engine (``SeriesIndex``), replace the chunk's
    history rows in the period with a row per change, and advance the progress counter."""
    from scoring.models import BackfillJob
    from scoring.validation import matched_accounts

    claimed = BackfillJob.objects.filter(pk=job_id, status=BackfillJob.Status.QUEUED).update(
        status=BackfillJob.Status.RUNNING, started_at=timezone.now()
    )
    job = BackfillJob.objects.select_related("scorecard").get(pk=job_id)
    if claimed != 1:
        return job
    try:
        spec = selectors.scorecard_spec(job.scorecard)
        ids = list(
            matched_accounts(job.scorecard.segment).order_by("id").values_list("id", flat=True)
        )
        moments = backfill_moments(days=job.days, today=timezone.now().date())
        period_start = moments[0] - timedelta(hours=12)
        period_end = moments[-1] + timedelta(hours=12)
        longest = max((m.window_days for m in spec.measures), default=1)
        metric_ids = selectors.metric_ids_by_key(m.metric for m in spec.measures)
        key_by_id = {v: k for k, v in metric_ids.items()}
        job.total = len(ids)
        job.save(update_fields=["total"])
        for start in range(0, len(ids), chunk_size):
            chunk = ids[start : start + chunk_size]
            values = MetricValue.objects.filter(
                account_id__in=chunk,
                metric_id__in=key_by_id,
                observed_at__gt=moments[0] - timedelta(days=2 * longest),
                observed_at__lte=moments[-1],
            ).values_list("account_id", "metric_id", "observed_at", "value")
            index = engine.SeriesIndex((a, key_by_id[m], t, v) for a, m, t, v in values)
            rows: list[Score] = []
            for account_id in chunk:
                previous: engine.ScoreResult | None = None
                for at in moments:
                    result = index.score(account_id, spec, at=at)
                    if previous is not None and (result.score, result.band, result.measures) == (
                        previous.score,
                        previous.band,
                        previous.measures,
                    ):
                        continue
                    previous = result
                    rows.append(
                        Score(
                            account_id=account_id,
                            scorecard_id=job.scorecard_id,
                            score=result.score,
                            band=result.band,
                            computed_at=at,
                            breakdown=result.breakdown(),
                        )
                    )
            with transaction.atomic():
                Score.objects.filter(
                    account_id__in=chunk,
                    computed_at__gte=period_start,
                    computed_at__lt=period_end,
                ).delete()
                Score.objects.bulk_create(rows, batch_size=BULK_BATCH)
                BackfillJob.objects.filter(pk=job.pk).update(
                    done=F("done") + len(chunk), rows_written=F("rows_written") + len(rows)
                )
        BackfillJob.objects.filter(pk=job.pk).update(
            status=BackfillJob.Status.DONE, finished_at=timezone.now(), done=len(ids)
        )
    except Exception as exc:
        BackfillJob.objects.filter(pk=job.pk).update(
            status=BackfillJob.Status.FAILED, finished_at=timezone.now(), error=str(exc)[:2000]
        )
        raise
    job.refresh_from_db()
    return job
