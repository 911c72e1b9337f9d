"""Reads of the scoring app: scorecards as engine specs, window stats, history, movers.

Window stats come from PostgreSQL with two set-based queries per batch (aggregates per
(account, measure window) and the newest value per (account, metric)); elsewhere (SQLite)
the rows are loaded and the engine's own ``window_stats`` computes them. Both give the
same ``WindowStats`` (tested)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import Account
from scoring import engine
from scoring.engine import Mover, PathToGreen, ScorecardSpec, WindowStats
from scoring.models import Measure, MetricDefinition, MetricValue, Score, Scorecard

StatsByAccount = dict[int, dict[tuple[str, int], WindowStats]]


# --- scorecards --------------------------------------------------------------------------


def scorecard_spec(
    scorecard: Scorecard, measures: Iterable[Measure] | None = None
) -> ScorecardSpec:
    """The engine's view of one scorecard version (measures with ``metric`` loaded)."""
    rows = (
        list(measures)
        if measures is not None
        else list(scorecard.measures.select_related("metric"))
    )
    return ScorecardSpec(
        id=scorecard.pk,
        name=scorecard.name,
        red_below=scorecard.red_below,
        green_at=scorecard.green_at,
        missing_data=scorecard.missing_data,
        measures=tuple(
            engine.MeasureSpec(
                metric=m.metric.key,
                name=m.metric.name,
                weight=m.weight,
                aggregation=m.aggregation,
                window_days=m.window_days,
                bad=m.bad,
                good=m.good,
            )
            for m in sorted(rows, key=lambda m: (m.position, m.pk or 0))
        ),
    )


def active_scorecard_specs() -> dict[str, ScorecardSpec]:
    """Active scorecard per segment ("" = the default), in two queries."""
    cards = list(
        Scorecard.objects.filter(status=Scorecard.Status.ACTIVE).prefetch_related(
            "measures__metric"
        )
    )
    return {c.segment: scorecard_spec(c, c.measures.all()) for c in cards}


def spec_for_segment(specs: dict[str, ScorecardSpec], segment: str) -> ScorecardSpec | None:
    """A segment-specific scorecard beats the default."""
    return specs.get(segment) or specs.get("")


def current_scorecard_for(account: Account) -> Scorecard | None:
    cards = Scorecard.objects.filter(
        status=Scorecard.Status.ACTIVE, segment__in={account.segment, ""}
    ).prefetch_related("measures__metric")
    by_segment = {c.segment: c for c in cards}
    return by_segment.get(account.segment) or by_segment.get("")


def metric_ids_by_key(keys: Iterable[str]) -> dict[str, int]:
    return dict(MetricDefinition.objects.filter(key__in=set(keys)).values_list("key", "id"))


# --- window stats ------------------------------------------------------------------------


def _windows(specs: Iterable[ScorecardSpec]) -> set[tuple[str, int]]:
    return {(m.metric, m.window_days) for s in specs for m in s.measures}


def window_stats_for(
    *,
    account_ids: Sequence[int],
    specs: Iterable[ScorecardSpec],
    at: datetime,
    use_sql: bool | None = None,
) -> StatsByAccount:
    """WindowStats per account per (metric key, window_days) at ``at``. Set-based: a fixed
    number of queries whatever the number of accounts."""
    windows = _windows(specs)
    if not account_ids or not windows:
        return {}
    ids_by_key = metric_ids_by_key(k for k, _ in windows)
    windows = {(k, w) for k, w in windows if k in ids_by_key}
    if use_sql is None:
        use_sql = connection.vendor == "postgresql"
    if use_sql:
        return _window_stats_sql(account_ids, windows, ids_by_key, at)
    return _window_stats_python(account_ids, windows, ids_by_key, at)


def _window_stats_python(
    account_ids: Sequence[int],
    windows: set[tuple[str, int]],
    ids_by_key: dict[str, int],
    at: datetime,
) -> StatsByAccount:
    key_by_id = {v: k for k, v in ids_by_key.items()}
    rows = MetricValue.objects.filter(
        account_id__in=account_ids, metric_id__in=key_by_id, observed_at__lte=at
    ).values_list("account_id", "metric_id", "observed_at", "value")
    index = engine.SeriesIndex(
        (a, key_by_id[m], t, v) for a, m, t, v in rows.iterator(chunk_size=5000)
    )
    spec = ScorecardSpec(
        measures=tuple(
            engine.MeasureSpec(metric=k, weight=1, window_days=w) for k, w in sorted(windows)
        )
    )
    out: StatsByAccount = {}
    for account_id in account_ids:
        stats = index.stats_for(account_id, spec, at=at)
        if stats:
            out[account_id] = stats
    return out


# Window boundaries are computed once per (metric, window) in the spec rows, not per value.
_SQL_AGGREGATES = """
WITH spec AS MATERIALIZED (
    SELECT metric_id, days,
           %(at)s::timestamptz - make_interval(days => days) AS window_start,
           %(at)s::timestamptz - make_interval(days => 2 * days) AS prev_start
    FROM unnest(%(metric_ids)s::bigint[], %(days)s::int[]) AS s(metric_id, days)
)
SELECT mv.account_id, spec.metric_id, spec.days,
       count(*) FILTER (WHERE mv.observed_at > spec.window_start),
       coalesce(sum(mv.value) FILTER (WHERE mv.observed_at > spec.window_start), 0),
       count(*) FILTER (WHERE mv.observed_at <= spec.window_start),
       coalesce(sum(mv.value) FILTER (WHERE mv.observed_at <= spec.window_start), 0)
FROM spec
JOIN scoring_metricvalue mv
  ON mv.metric_id = spec.metric_id
 AND mv.observed_at > spec.prev_start
 AND mv.observed_at <= %(at)s
WHERE mv.account_id = ANY(%(account_ids)s)
GROUP BY mv.account_id, spec.metric_id, spec.days
"""

# The newest value per (account, metric) at or before ``at``: one backward index probe per
# pair on the (account, metric, observed_at) unique index, whatever the history's length.
_SQL_LATEST = """
SELECT a.id, m.id, l.observed_at, l.value
FROM unnest(%(account_ids)s::bigint[]) AS a(id)
CROSS JOIN unnest(%(all_metric_ids)s::bigint[]) AS m(id)
CROSS JOIN LATERAL (
    SELECT observed_at, value FROM scoring_metricvalue
    WHERE account_id = a.id AND metric_id = m.id AND observed_at <= %(at)s
    ORDER BY observed_at DESC LIMIT 1
) AS l
"""


def _window_stats_sql(
    account_ids: Sequence[int],
    windows: set[tuple[str, int]],
    ids_by_key: dict[str, int],
    at: datetime,
) -> StatsByAccount:
    key_by_id = {v: k for k, v in ids_by_key.items()}
    ordered = sorted(windows)
    params: dict[str, Any] = {
        "metric_ids": [ids_by_key[k] for k, _ in ordered],
        "days": [w for _, w in ordered],
        "all_metric_ids": sorted({ids_by_key[k] for k, _ in ordered}),
        "account_ids": list(account_ids),
        "at": at,
    }
    aggregates: dict[tuple[int, str, int], tuple[int, float, int, float]] = {}
    latest: dict[tuple[int, str], tuple[datetime, float]] = {}
    with connection.cursor() as cursor:
        cursor.execute(_SQL_AGGREGATES, params)
        for a, m, w, n, total, pn, ptotal in cursor.fetchall():
            aggregates[(a, key_by_id[m], w)] = (n, total, pn, ptotal)
        cursor.execute(_SQL_LATEST, params)
        for a, m, t, v in cursor.fetchall():
            latest[(a, key_by_id[m])] = (t, v)
    out: StatsByAccount = defaultdict(dict)
    for (a, key), (t, v) in latest.items():
        for k, w in ordered:
            if k != key:
                continue
            n, total, pn, ptotal = aggregates.get((a, k, w), (0, 0.0, 0, 0.0))
            out[a][(k, w)] = WindowStats(
                latest_at=t, latest_value=v, count=n, total=total, prev_count=pn, prev_total=ptotal
            )
    return dict(out)


# --- history -----------------------------------------------------------------------------


def latest_scores(*, account_ids: Sequence[int], at: datetime | None = None) -> dict[int, Score]:
    """The newest Score row per account (at or before ``at`` when given), in one query."""
    if not account_ids:
        return {}
    qs = Score.objects.filter(account_id__in=account_ids)
    if at is not None:
        qs = qs.filter(computed_at__lte=at)
    if connection.vendor == "postgresql":
        rows = qs.order_by("account_id", "-computed_at").distinct("account_id")
        return {s.account_id: s for s in rows}
    # SQLite: newest per account by a correlated subquery on the (account, -computed_at) index.
    from django.db.models import OuterRef, Subquery

    newest = Score.objects.filter(account_id=OuterRef("account_id"))
    if at is not None:
        newest = newest.filter(computed_at__lte=at)
    rows = qs.filter(
        computed_at=Subquery(newest.order_by("-computed_at").values("computed_at")[:1])
    )
    return {s.account_id: s for s in rows}


def score_history(*, account: Account, days: int | None = None) -> QuerySet[Score]:
    """The account's score history, newest first (the last ``days`` days when given)."""
    qs = Score.objects.filter(account=account).select_related("scorecard").order_by("-computed_at")
    if days is not None:
        qs = qs.filter(computed_at__gte=timezone.now() - timedelta(days=days))
    return qs


def score_movers(*, account: Account, days: int, limit: int = 3) -> list[Mover]:
    """What moved the score over the last ``days`` days: the newest Score row against the
    newest row at or before now − days (or the oldest row, if history is shorter)."""
    newest = Score.objects.filter(account=account).order_by("-computed_at").first()
    if newest is None:
        return []
    cutoff = timezone.now() - timedelta(days=days)
    before = (
        Score.objects.filter(account=account, computed_at__lte=cutoff)
        .order_by("-computed_at")
        .first()
    )
    if before is None:
        before = Score.objects.filter(account=account).order_by("computed_at").first()
    if before is None or before.pk == newest.pk:
        return []
    return engine.movers(before.breakdown, newest.breakdown, limit=limit)


def path_to_green(*, account: Account) -> PathToGreen | None:
    """The smallest change of one or two measures that lifts the account into green, from
    its newest score; None when already green or without data."""
    newest = (
        Score.objects.filter(account=account)
        .select_related("scorecard")
        .order_by("-computed_at")
        .first()
    )
    if newest is None or newest.score is None:
        return None
    spec = scorecard_spec(newest.scorecard)
    result = result_from_breakdown(spec, newest)
    if result is None:
        return None
    return engine.path_to_green(spec, result)


def result_from_breakdown(spec: ScorecardSpec, score: Score) -> engine.ScoreResult | None:
    """Rebuild the engine result of a stored score (None if the breakdown no longer matches
    the scorecard's measures)."""
    rows = list(score.breakdown)
    if len(rows) != len(spec.measures):
        return None
    measures = []
    for m, row in zip(spec.measures, rows, strict=True):
        if row.get("metric") != m.metric:
            return None
        measures.append(
            engine.MeasureResult(
                metric=m.metric,
                name=str(row.get("name") or m.label),
                aggregation=m.aggregation,
                window_days=m.window_days,
                value=row.get("value"),
                points=row.get("points"),
                weight=float(row.get("weight") or m.weight),
                contribution=float(row.get("contribution") or 0.0),
                stale=bool(row.get("stale")),
            )
        )
    return engine.ScoreResult(score=score.score, band=score.band, measures=tuple(measures))


def movers_for_score(*, score: Score, limit: int = 3) -> list[Mover]:
    """Why this stored score differs from the account's previous one (plain words)."""
    previous = (
        Score.objects.filter(account_id=score.account_id, computed_at__lt=score.computed_at)
        .order_by("-computed_at")
        .first()
    )
    if previous is None:
        return []
    return engine.movers(previous.breakdown, score.breakdown, limit=limit)


def preview_scorecard(
    *, scorecard: Scorecard, account_ids: Sequence[int], at: datetime | None = None
) -> dict[int, engine.ScoreResult]:
    """What-if: the scores ``scorecard`` (e.g. a draft) would give these accounts now,
    computed by the same engine and window stats as the recompute, writing nothing."""
    spec = scorecard_spec(scorecard)
    at = at or timezone.now()
    stats = window_stats_for(account_ids=account_ids, specs=[spec], at=at)
    return {a: engine.score_from_stats(spec, stats.get(a, {}), at=at) for a in account_ids}


# --- window stats at many moments (issue 7: backtests) -----------------------------------

_SQL_AGGREGATES_AT = """
WITH pairs(account_id, at) AS (
    SELECT * FROM unnest(%(pair_accounts)s::bigint[], %(pair_ats)s::timestamptz[])
), spec(metric_id, days) AS (SELECT * FROM unnest(%(metric_ids)s::bigint[], %(days)s::int[]))
SELECT p.account_id, p.at, spec.metric_id, spec.days,
       count(*) FILTER (WHERE mv.observed_at > p.at - make_interval(days => spec.days)),
       coalesce(sum(mv.value) FILTER (WHERE mv.observed_at > p.at - make_interval(days => spec.days)), 0),
       count(*) FILTER (WHERE mv.observed_at <= p.at - make_interval(days => spec.days)),
       coalesce(sum(mv.value) FILTER (WHERE mv.observed_at <= p.at - make_interval(days => spec.days)), 0)
FROM pairs p
CROSS JOIN spec
JOIN scoring_metricvalue mv
  ON mv.account_id = p.account_id AND mv.metric_id = spec.metric_id
 AND mv.observed_at <= p.at
 AND mv.observed_at > p.at - make_interval(days => 2 * spec.days)
GROUP BY p.account_id, p.at, spec.metric_id, spec.days
"""

_SQL_LATEST_AT = """
SELECT p.account_id, p.at, m.id, l.observed_at, l.value
FROM unnest(%(pair_accounts)s::bigint[], %(pair_ats)s::timestamptz[]) AS p(account_id, at)
CROSS JOIN unnest(%(all_metric_ids)s::bigint[]) AS m(id)
CROSS JOIN LATERAL (
    SELECT observed_at, value FROM scoring_metricvalue
    WHERE account_id = p.account_id AND metric_id = m.id AND observed_at <= p.at
    ORDER BY observed_at DESC LIMIT 1
) AS l
"""


def window_stats_at_moments(
    *, pairs: Iterable[tuple[int, datetime]], specs: Iterable[ScorecardSpec]
) -> dict[tuple[int, datetime], dict[tuple[str, int], WindowStats]]:
    """``window_stats_for`` for many (account, moment) pairs at once: on PostgreSQL three
    queries whatever the number of pairs and distinct moments (a backtest asks for each
    outcome's cut-off); elsewhere one ``window_stats_for`` per distinct moment. Same
    ``WindowStats`` either way (tested)."""
    wanted = sorted(set(pairs))
    specs = list(specs)
    windows = _windows(specs)
    if not wanted or not windows:
        return {}
    if connection.vendor != "postgresql":
        by_moment: dict[datetime, list[int]] = defaultdict(list)
        for account_id, at in wanted:
            by_moment[at].append(account_id)
        found: dict[tuple[int, datetime], dict[tuple[str, int], WindowStats]] = {}
        for at, ids in by_moment.items():
            for account_id, stats in window_stats_for(
                account_ids=ids, specs=specs, at=at, use_sql=False
            ).items():
                found[(account_id, at)] = stats
        return found
    ids_by_key = metric_ids_by_key(k for k, _ in windows)
    ordered = sorted((k, w) for k, w in windows if k in ids_by_key)
    if not ordered:
        return {}
    key_by_id = {v: k for k, v in ids_by_key.items()}
    params: dict[str, Any] = {
        "pair_accounts": [a for a, _ in wanted],
        "pair_ats": [t for _, t in wanted],
        "metric_ids": [ids_by_key[k] for k, _ in ordered],
        "days": [w for _, w in ordered],
        "all_metric_ids": sorted({ids_by_key[k] for k, _ in ordered}),
    }
    aggregates: dict[tuple[int, datetime, str, int], tuple[int, float, int, float]] = {}
    latest: dict[tuple[int, datetime, str], tuple[datetime, float]] = {}
    with connection.cursor() as cursor:
        cursor.execute(_SQL_AGGREGATES_AT, params)
        for a, at, m, w, n, total, pn, ptotal in cursor.fetchall():
            aggregates[(a, at, key_by_id[m], w)] = (n, total, pn, ptotal)
        cursor.execute(_SQL_LATEST_AT, params)
        for a, at, m, t, v in cursor.fetchall():
            latest[(a, at, key_by_id[m])] = (t, v)
    out: dict[tuple[int, datetime], dict[tuple[str, int], WindowStats]] = defaultdict(dict)
    for (a, at, key), (t, v) in latest.items():
        for k, w in ordered:
            if k != key:
                continue
            n, total, pn, ptotal = aggregates.get((a, at, k, w), (0, 0.0, 0, 0.0))
            out[(a, at)][(k, w)] = WindowStats(
                latest_at=t, latest_value=v, count=n, total=total, prev_count=pn, prev_total=ptotal
            )
    return dict(out)
