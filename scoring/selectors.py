"""Reads of the scoring app: scorecards as engine specs, window stats, history, movers.

Window stats come from PostgreSQL as arrays (``stats_table``: one aggregate pass per batch,
streamed as binary COPY into numpy); elsewhere (SQLite) the rows are loaded and the engine
computes them. Both give the same stats (tested)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import numpy as np
import orjson
from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import Account
from scoring import engine
from scoring.engine import Mover, PathToGreen, ScorecardSpec, WindowStats
from scoring.models import Measure, MetricDefinition, MetricValue, Score, Scorecard

StatsByAccount = dict[int, dict[tuple[str, int], WindowStats]]


# --- scorecards --------------------------------------------------------------------------


def id_array(ids: Iterable[int]) -> str:
    """Ids as a PostgreSQL array literal, for an ``= ANY(%s::bigint[])`` parameter: one
    string to quote (psycopg dumps a list of thousands of ints element by element)."""
    return "{" + ",".join(map(str, ids)) + "}"


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


@dataclass(frozen=True)
class StatsTable:
    """Window stats of a batch of accounts for a set of (metric key, window_days) columns,
    as arrays: ``stats`` holds (N, K + 1) arrays (rows follow ``account_ids``, sorted;
    the last column is always empty, for measures whose metric does not exist)."""

    account_ids: np.ndarray
    columns: dict[tuple[str, int], int]
    stats: engine.StatsArrays

    def rows_of(self, account_ids: Sequence[int]) -> np.ndarray:
        return np.searchsorted(self.account_ids, np.asarray(account_ids, dtype=np.int64))

    def for_scorecard(self, spec: ScorecardSpec, rows: np.ndarray) -> engine.StatsArrays:
        """The engine's input for ``spec``'s measures and the accounts at ``rows``."""
        empty = len(self.columns)
        cols = [self.columns.get((m.metric, m.window_days), empty) for m in spec.measures]
        grid = np.ix_(rows, np.asarray(cols, dtype=np.intp))
        s = self.stats
        return engine.StatsArrays(
            observed=s.observed[grid],
            fresh=s.fresh[grid],
            count=s.count[grid],
            total=s.total[grid],
            prev_count=s.prev_count[grid],
            prev_total=s.prev_total[grid],
            latest_value=s.latest_value[grid],
        )


def stats_table(
    *,
    account_ids: Sequence[int],
    specs: Iterable[ScorecardSpec],
    at: datetime,
    use_sql: bool | None = None,
) -> StatsTable:
    """Window stats at ``at`` of every (metric, window) the scorecards use, for these
    accounts. On PostgreSQL: one aggregate pass over the values that can matter (those
    after ``at`` − the longest window, doubled for ``change_pct``), streamed as binary COPY
    into numpy, plus one index probe per (account, metric) pair without recent values (is
    it stale or never observed?). Elsewhere the engine computes the same stats from the
    rows (``window_stats_for``). Both agree (tested)."""
    measures = [m for s in specs for m in s.measures]
    ids = np.unique(np.asarray(list(account_ids), dtype=np.int64))
    windows = sorted({(m.metric, m.window_days) for m in measures})
    columns = {w: i for i, w in enumerate(windows)}
    table = StatsTable(
        account_ids=ids,
        columns=columns,
        stats=engine.StatsArrays.empty(len(ids), len(windows) + 1),
    )
    ids_by_key = metric_ids_by_key(k for k, _ in windows) if windows and len(ids) else {}
    if not ids_by_key:
        return table
    if use_sql is None:
        use_sql = connection.vendor == "postgresql"
    if use_sql:
        _fill_sql(table, measures, ids_by_key, at)
    else:
        by_account = window_stats_for(account_ids=ids.tolist(), specs=specs_of(measures), at=at)
        fake = ScorecardSpec(
            measures=tuple(
                engine.MeasureSpec(metric=k, weight=1, window_days=w) for k, w in windows
            )
        )
        filled = engine.StatsArrays.from_stats(
            fake, [by_account.get(int(a), {}) for a in ids], at=at
        )
        for field in _STATS_FIELDS:
            getattr(table.stats, field)[:, : len(windows)] = getattr(filled, field)
    return table


_STATS_FIELDS = ("observed", "fresh", "count", "total", "prev_count", "prev_total", "latest_value")


def specs_of(measures: Iterable[engine.MeasureSpec]) -> list[ScorecardSpec]:
    return [ScorecardSpec(measures=tuple(measures))]


_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"


def _copy_rows(sql: str, params: Sequence[Any], fields: Sequence[tuple[str, str]]) -> np.ndarray:
    """The rows of ``sql`` as a numpy record array, with the given (name, kind) columns:
    every column must be a non-null int8 ('i') or float8 ('f').

    The rows travel as one row of arrays (``array_send(array_agg(column))``, one per
    column) in ``COPY … (FORMAT BINARY)``: one message for the whole result, each column
    read by ``np.frombuffer`` without parsing (a row per message cost Python more than the
    rest of the batch's reading)."""
    names = [name for name, _ in fields]
    arrays = ", ".join(f"array_send(array_agg(q.{name}))" for name in names)
    wrapped = f"SELECT {arrays} FROM ({sql}) AS q({', '.join(names)})"
    buf = bytearray()
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg 3
        if not connection.get_autocommit():
            # JIT compiling this aggregate costs more than it saves (measured: 0.45 s
            # instead of 0.65 s for 5 000 accounts × 8 metrics × 30 days), and parallel
            # workers only add CPU: the throughput comes from Celery workers recomputing
            # chunks side by side. LOCAL: until the end of the batch's transaction, whose
            # other queries are small.
            raw.execute("SET LOCAL jit = off; SET LOCAL max_parallel_workers_per_gather = 0")
        with raw.copy(f"COPY ({wrapped}) TO STDOUT (FORMAT BINARY)", params) as copy:
            for block in copy:
                buf += block
    if bytes(buf[:11]) != _COPY_SIGNATURE:
        raise RuntimeError("unexpected COPY BINARY header")
    pos = 19 + int.from_bytes(buf[15:19], "big")  # past the header and its extension
    if int.from_bytes(buf[pos : pos + 2], "big", signed=True) != len(fields):
        raise RuntimeError("unexpected COPY BINARY row")
    pos += 2
    out = np.zeros(
        0, dtype=[(name, np.int64 if kind == "i" else np.float64) for name, kind in fields]
    )
    for name, kind in fields:
        size = int.from_bytes(buf[pos : pos + 4], "big", signed=True)
        pos += 4
        if size < 0:  # NULL: no rows at all
            return out
        # array_send: ndim, has-nulls flag, element type, then (length, lower bound) per
        # dimension, then (byte length, value) per element.
        ndim, has_nulls = int.from_bytes(buf[pos : pos + 4], "big"), buf[pos + 7]
        if ndim != 1 or has_nulls:
            raise RuntimeError(f"unexpected array for column {name}")
        n = int.from_bytes(buf[pos + 12 : pos + 16], "big")
        if len(out) != n:
            out = np.zeros(n, dtype=out.dtype)
        cell = np.dtype([("_len", ">i4"), ("v", ">i8" if kind == "i" else ">f8")])
        out[name] = np.frombuffer(buf, dtype=cell, count=n, offset=pos + 20)["v"]
        pos += size
    return out


def _fill_sql(
    table: StatsTable,
    measures: Sequence[engine.MeasureSpec],
    ids_by_key: dict[str, int],
    at: datetime,
) -> None:
    # Each metric's windows become "slots": slot s is the s-th window of every metric, so
    # one row per (account, metric) carries all its windows (usually one).
    windows_by_metric: dict[int, list[int]] = defaultdict(list)
    for key, days in sorted(table.columns):
        if key in ids_by_key:
            windows_by_metric[ids_by_key[key]].append(days)
    if not windows_by_metric:
        return
    change = {
        (ids_by_key.get(m.metric), m.window_days) for m in measures if m.aggregation == "change_pct"
    }
    latest = {
        ids_by_key[m.metric]
        for m in measures
        if m.aggregation == "latest" and m.metric in ids_by_key
    }
    horizon = max(
        days * (2 if (mid, days) in change else 1)
        for mid, ws in windows_by_metric.items()
        for days in ws
    )
    slots = max(len(ws) for ws in windows_by_metric.values())
    params: list[Any] = []
    lo, hi = min(windows_by_metric), max(windows_by_metric)

    def bound(pairs: list[tuple[int, int]]) -> str:
        """Each row's window start for its metric: a subscript into a small constant array
        indexed by metric id (a CASE over the metrics costs several times more per row)."""
        if not pairs:
            return "NULL::timestamptz"
        if hi - lo < 4096:
            starts: list[str] = ["NULL"] * (hi - lo + 1)
            for mid, days in pairs:
                starts[mid - lo] = f'"{(at - timedelta(days=days)).isoformat()}"'
            params.append(f"[{lo}:{hi}]={{{','.join(starts)}}}")
            return "(%s::timestamptz[])[metric_id::int4]"
        whens = []
        for mid, days in pairs:
            whens.append("WHEN %s THEN %s::timestamptz")
            params.extend([mid, at - timedelta(days=days)])
        return f"CASE metric_id {' '.join(whens)} END"

    select_cols = []
    has_latest = []
    for s in range(slots):
        in_slot = [(mid, ws[s]) for mid, ws in sorted(windows_by_metric.items()) if len(ws) > s]
        select_cols.append(f"{bound(in_slot)} AS ws{s}")
        prev = [(mid, 2 * d) for mid, d in in_slot if (mid, d) in change]
        select_cols.append(f"{bound(prev)} AS ps{s}")
        # The newest value in a "latest" window rides along in the same pass: the greatest
        # [epoch, value] pair (arrays compare element by element), only on the rows of
        # metrics read as "latest" (ls: NULL elsewhere).
        in_latest = [(mid, d) for mid, d in in_slot if mid in latest]
        has_latest.append(bool(in_latest))
        if in_latest:
            select_cols.append(f"{bound(in_latest)} AS ls{s}")
    inner_params = list(params)
    aggregates: list[str] = []
    fields: list[tuple[str, str]] = [("account", "i"), ("metric", "i")]
    has_previous = []
    for s in range(slots):
        inside, before = f"observed_at > ws{s}", f"observed_at <= ws{s} AND observed_at > ps{s}"
        aggregates += [
            f"count(*) FILTER (WHERE {inside})",
            f"coalesce(sum(value) FILTER (WHERE {inside}), 0)",
        ]
        fields += [(f"c{s}", "i"), (f"t{s}", "f")]
        if has_latest[s]:
            # NaN when the window holds no value (values are finite: ingestion refuses NaN).
            aggregates.append(
                "coalesce((max(ARRAY[date_part('epoch', observed_at), value])"
                f" FILTER (WHERE observed_at > ls{s}))[2], 'NaN')"
            )
            fields.append((f"l{s}", "f"))
        # The window before the window: only for change_pct measures (every aggregate is
        # evaluated on every row, so the ones nobody reads are left out).
        has_previous.append(
            any((mid, ws[s]) in change for mid, ws in windows_by_metric.items() if len(ws) > s)
        )
        if has_previous[s]:
            aggregates += [
                f"count(*) FILTER (WHERE {before})",
                f"coalesce(sum(value) FILTER (WHERE {before}), 0)",
            ]
            fields += [(f"pc{s}", "i"), (f"pt{s}", "f")]
    metric_ids = sorted(windows_by_metric)
    ids = table.account_ids
    # A dense id range (a full recompute's chunk) is one ordered index range scan, grouped
    # without sorting; rows of accounts outside the batch are dropped below. A sparse set
    # (dirty accounts) probes the index per id.
    dense = int(ids[-1]) - int(ids[0]) + 1 <= 2 * len(ids)
    only_ids = "" if dense else "AND account_id = ANY(%s::bigint[])"
    # The metrics' id range is checked inside the index scan; a list (when the scorecard
    # skips ids in between) is one more test on each row.
    contiguous = hi - lo + 1 == len(metric_ids)
    only_metrics = "" if contiguous else "AND metric_id = ANY(%s::bigint[])"
    # "ORDER BY … OFFSET 0" keeps the inner query whole: each row's window bounds are
    # computed once, in the index scan, instead of once per aggregate that reads them
    # (PostgreSQL would otherwise copy the expressions into every FILTER; 7 % of the
    # query). The order is the index's, so it costs no sort and the grouping stays sorted.
    sql = f"""
        SELECT account_id, metric_id, {", ".join(aggregates)}
        FROM (
            SELECT account_id, metric_id, observed_at, value, {", ".join(select_cols)}
            FROM scoring_metricvalue
            WHERE account_id BETWEEN %s AND %s {only_ids}
              AND metric_id BETWEEN %s AND %s {only_metrics}
              AND observed_at > %s::timestamptz AND observed_at <= %s::timestamptz
            ORDER BY account_id, metric_id
            OFFSET 0
        ) AS v
        GROUP BY account_id, metric_id
    """
    rows = _copy_rows(
        sql,
        [
            *inner_params,
            int(ids[0]),
            int(ids[-1]),
            *([] if dense else [id_array(ids.tolist())]),
            lo,
            hi,
            *([] if contiguous else [id_array(metric_ids)]),
            at - timedelta(days=horizon),
            at,
        ],
        fields,
    )
    st = table.stats
    row_of = np.searchsorted(ids, rows["account"].astype(np.int64))
    if dense:
        ours = ids[np.minimum(row_of, len(ids) - 1)] == rows["account"]
        rows, row_of = rows[ours], row_of[ours]
    metric_of = rows["metric"].astype(np.int64)
    key_by_id = {v: k for k, v in ids_by_key.items()}
    for mid, ws in windows_by_metric.items():
        sel = metric_of == mid
        r = row_of[sel]
        for s, days in enumerate(ws):
            col = table.columns[(key_by_id[mid], days)]
            count = rows[f"c{s}"][sel].astype(np.int64)
            st.observed[r, col] = True
            st.fresh[r, col] = count > 0  # the newest value lies in the window iff any does
            st.count[r, col] = count
            st.total[r, col] = rows[f"t{s}"][sel]
            if has_previous[s]:
                st.prev_count[r, col] = rows[f"pc{s}"][sel]
                st.prev_total[r, col] = rows[f"pt{s}"][sel]
            if has_latest[s] and mid in latest:
                st.latest_value[r, col] = rows[f"l{s}"][sel]
    # (account, metric) pairs without values in the range: observed long ago (stale) or
    # never? One index probe each, usually few (none when every account reports daily).
    seen = np.zeros((len(ids), len(metric_ids)), dtype=bool)
    seen[row_of, np.searchsorted(metric_ids, metric_of)] = True
    miss_rows, miss_metrics = np.nonzero(~seen)
    if not len(miss_rows):
        return
    mids = np.asarray(metric_ids, dtype=np.int64)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT p.a, p.m FROM unnest(%s::bigint[], %s::bigint[]) AS p(a, m)
            WHERE EXISTS (
                SELECT 1 FROM scoring_metricvalue
                WHERE account_id = p.a AND metric_id = p.m AND observed_at <= %s
            )
            """,
            [id_array(ids[miss_rows].tolist()), id_array(mids[miss_metrics].tolist()), at],
        )
        found = cursor.fetchall()
    if not found:
        return
    found_rows = np.searchsorted(ids, np.array([r[0] for r in found], dtype=np.int64))
    found_metrics = np.array([r[1] for r in found], dtype=np.int64)
    for mid, ws in windows_by_metric.items():
        of_metric = found_metrics == mid
        for days in ws:
            st.observed[found_rows[of_metric], table.columns[(key_by_id[mid], days)]] = True


def window_stats_for(
    *,
    account_ids: Sequence[int],
    specs: Iterable[ScorecardSpec],
    at: datetime,
) -> StatsByAccount:
    """WindowStats per account per (metric key, window_days) at ``at``, computed by the
    engine from the rows (the reference the SQL of ``stats_table`` is tested against)."""
    windows = {(m.metric, m.window_days) for s in specs for m in s.measures}
    if not account_ids or not windows:
        return {}
    ids_by_key = metric_ids_by_key(k for k, _ in windows)
    windows = {(k, w) for k, w in windows if k in ids_by_key}
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


class ScoreRow(NamedTuple):
    scorecard_id: int
    score: float | None
    band: str
    breakdown: list[dict[str, Any]]


def latest_score_rows(
    *, account_ids: Sequence[int], at: datetime | None = None
) -> dict[int, ScoreRow]:
    """``latest_scores`` without model instances (the recompute reads these per batch)."""
    if not account_ids:
        return {}
    if connection.vendor != "postgresql":
        return {
            a: ScoreRow(s.scorecard_id, s.score, s.band, s.breakdown)
            for a, s in latest_scores(account_ids=account_ids, at=at).items()
        }
    sql = (
        "SELECT DISTINCT ON (account_id) account_id, scorecard_id, score, band, breakdown"
        " FROM scoring_score WHERE account_id = ANY(%s::bigint[])"
    )
    params: list[Any] = [id_array(account_ids)]
    if at is not None:
        sql += " AND computed_at <= %s"
        params.append(at)
    sql += " ORDER BY account_id, computed_at DESC"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return {
        a: ScoreRow(c, s, b, orjson.loads(d) if isinstance(d, str | bytes) else d)
        for a, c, s, b, d in rows
    }


def score_history(*, account: Account, days: int | None = None) -> QuerySet[Score]:
    """The account's score history, newest first (the last ``days`` days when given)."""
    qs = Score.objects.filter(account=account).select_related("scorecard").order_by("-computed_at")
    if days is not None:
        qs = qs.filter(computed_at__gte=timezone.now() - timedelta(days=days))
    return qs


def score_movers(*, account: Account, days: int, limit: int = 3) -> list[Mover]:
    """What moved the score over the last ``days`` days: the newest Score row against the
    newest row at or before now − days (none when history is shorter; the account's
    ``top_mover`` follows the same rule for 30 days)."""
    newest = Score.objects.filter(account=account).order_by("-computed_at").first()
    if newest is None:
        return []
    cutoff = timezone.now() - timedelta(days=days)
    before = (
        Score.objects.filter(account=account, computed_at__lte=cutoff)
        .order_by("-computed_at")
        .first()
    )
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
    table = stats_table(account_ids=account_ids, specs=[spec], at=at)
    ids = list(dict.fromkeys(account_ids))
    batch = engine.score_batch(
        spec, *engine.measure_values(spec, table.for_scorecard(spec, table.rows_of(ids)))
    )
    return {a: batch.result(i) for i, a in enumerate(ids)}


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
    windows = {(m.metric, m.window_days) for s in specs for m in s.measures}
    if not wanted or not windows:
        return {}
    if connection.vendor != "postgresql":
        by_moment: dict[datetime, list[int]] = defaultdict(list)
        for account_id, at in wanted:
            by_moment[at].append(account_id)
        found: dict[tuple[int, datetime], dict[tuple[str, int], WindowStats]] = {}
        for at, ids in by_moment.items():
            for account_id, stats in window_stats_for(account_ids=ids, specs=specs, at=at).items():
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
