"""Window statistics: what every measure needs to know about the metric values of a batch
of accounts at a moment (count, sum, newest value inside its window, the window before).

On PostgreSQL, ``stats_table`` reads them in one aggregate pass per batch over the values'
covering index, streamed as one binary COPY message into numpy; elsewhere (SQLite) the rows
are loaded and the engine computes the same stats (``window_stats_for``, the reference the
SQL is tested against). ``window_stats_at_moments`` serves backtests: many (account,
moment) pairs in three queries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from django.db import connection

from chs_site.sql import id_array
from scoring import engine
from scoring.engine import ScorecardSpec, WindowStats
from scoring.models import MetricValue
from scoring.selectors.scorecards import metric_ids_by_key

StatsByAccount = dict[int, dict[tuple[str, int], WindowStats]]


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
