"""The score maths: pure functions over plain data (no ORM, no clock, no settings).

Every path that scores an account calls this module, so the formula exists once:
ingest (one account), the batch recompute, the what-if preview of a draft scorecard, the
demo backfill and a backtest.

API
---
``ScorecardSpec`` / ``MeasureSpec``
    A scorecard version as plain data (``scoring.selectors.scorecard_spec`` builds one from
    the database; tests and a backtest build them by hand).

``score_account(scorecard, observations, at) -> ScoreResult``
    ``observations`` maps a metric key to a sequence of ``(observed_at, value)`` pairs
    (any order). Only observations at or before ``at`` are used, so a backtest can pass the
    whole history and ask for the score "as it would have been" at any moment.

``window_stats(observations, at=…, window_days=…) -> WindowStats`` and
``score_from_stats(scorecard, stats) -> ScoreResult``
    The two halves of ``score_account``. The batch recompute on PostgreSQL computes the same
    ``WindowStats`` with one SQL query per batch (``scoring.selectors``) and calls
    ``score_from_stats``; tests check that both paths give identical results.
    ``stats`` maps ``(metric key, window_days)`` to ``WindowStats``; a missing key means
    "never observed".

``StatsArrays`` → ``measure_values`` → ``score_batch`` → ``BatchScores``
    The core, for N accounts at once (numpy arrays, one column per measure). The scalar
    functions above are this core with N = 1, so the formula exists exactly once; the full
    recompute feeds it the arrays that ``scoring.selectors.stats_table`` reads from
    PostgreSQL. Breakdowns are built a column at a time: ``BatchScores.breakdown_json(i)``
    is the text score history stores, ``BatchScores.breakdown(i)`` the same as dicts (for
    comparing with the previous score and explaining moves).

``ScoreResult``
    ``score`` (0..100 rounded to one decimal, or ``None`` = no data), ``band``
    (``red|yellow|green``, blank when no data) and ``measures`` (one ``MeasureResult`` per
    measure). ``ScoreResult.breakdown()`` is the JSON list stored in score history:
    ``metric, name, aggregation, window_days, value, points, weight, contribution, stale``.

``movers(before, after, limit)`` / ``path_to_green(scorecard, result)``
    "Why did it move" and "what would bring it back to green", from breakdowns only.

The contract (DESIGN.md, "Scoring contract")
--------------------------------------------
* The window of a measure is ``(at − window_days, at]``. ``latest`` takes the newest value
  inside it; ``avg``/``sum``/``count`` aggregate the values inside it; ``change_pct`` is
  the change of the window's average against the previous window of the same length
  ``(at − 2·window_days, at − window_days]`` in percent of the previous average's size;
  missing when the previous window has no values or averages 0.
* A measure with no value inside its window is missing; it is *stale* when older values
  exist (the data stopped arriving), otherwise simply "no data". Stale = missing.
* points = clamp(0, 100, 100 · (value − bad) / (good − bad)); good < bad: lower is better.
* Missing data: ``ignore`` drops the measure and renormalises the weights, ``zero`` counts 0
  points, ``neutral`` 50 points. With no usable measure the score is ``None``, never 0.
* score = Σ points·weight / Σ weight, rounded to one decimal (half away from zero).
  contribution = points·weight / Σ weight (so the contributions add up to the score).
* band: red if score < red_below, green if score ≥ green_at, else yellow.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import cached_property
from typing import Any

import numpy as np
import orjson

AGGREGATIONS = ("latest", "avg", "sum", "count", "change_pct")
# Band thresholds of a scorecard that does not set its own (DESIGN.md's defaults).
DEFAULT_RED_BELOW = 40.0
DEFAULT_GREEN_AT = 70.0
MISSING_POLICIES = ("ignore", "zero", "neutral")
RED, YELLOW, GREEN = "red", "yellow", "green"
_BANDS = ("", RED, YELLOW, GREEN)


def _json(x: Any) -> str:
    return orjson.dumps(x).decode()


# --- inputs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MeasureSpec:
    metric: str  # metric key
    weight: float
    aggregation: str = "latest"
    window_days: int = 30
    bad: float = 0.0
    good: float = 100.0
    name: str = ""  # the metric's display name, for sentences

    @property
    def label(self) -> str:
        return self.name or self.metric

    @property
    def lower_is_better(self) -> bool:
        return self.good < self.bad


@dataclass(frozen=True)
class ScorecardSpec:
    measures: tuple[MeasureSpec, ...]
    red_below: float = DEFAULT_RED_BELOW
    green_at: float = DEFAULT_GREEN_AT
    missing_data: str = "ignore"
    id: int | None = None  # the scorecard version's primary key, when it has one
    name: str = ""


@dataclass(frozen=True)
class WindowStats:
    """What a measure needs to know about one metric of one account at one moment.

    ``latest_at``/``latest_value``: the newest observation at or before the moment (any age).
    ``count``/``total``: observations inside the window; ``prev_count``/``prev_total``: inside
    the previous window of the same length (for ``change_pct``)."""

    latest_at: datetime | None = None
    latest_value: float | None = None
    count: int = 0
    total: float = 0.0
    prev_count: int = 0
    prev_total: float = 0.0


# --- outputs -----------------------------------------------------------------------------


@dataclass(frozen=True)
class MeasureResult:
    metric: str
    name: str
    aggregation: str
    window_days: int
    value: float | None
    points: float | None
    weight: float
    contribution: float
    stale: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "name": self.name,
            "aggregation": self.aggregation,
            "window_days": self.window_days,
            "value": self.value,
            "points": self.points,
            "weight": self.weight,
            "contribution": self.contribution,
            "stale": self.stale,
        }


@dataclass(frozen=True)
class ScoreResult:
    score: float | None
    band: str
    measures: tuple[MeasureResult, ...] = field(default=())

    def breakdown(self) -> list[dict[str, Any]]:
        return [m.as_dict() for m in self.measures]


@dataclass(frozen=True)
class Mover:
    metric: str
    name: str
    before: float | None
    after: float | None
    contribution_change: float
    sentence: str


@dataclass(frozen=True)
class GreenStep:
    metric: str
    name: str
    current_value: float | None
    target_value: float


@dataclass(frozen=True)
class PathToGreen:
    steps: tuple[GreenStep, ...]
    score_after: float
    sentence: str
    # False: no one or two measures reach green; ``steps`` are the two that lift the score
    # most (each all the way to its ``good`` threshold) and ``score_after`` how far they go.
    reaches_green: bool = True


# --- the formula -------------------------------------------------------------------------


def round1(x: float) -> float:
    """One decimal, half away from zero (Python's round() would use banker's rounding)."""
    return float(Decimal(repr(x)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def points_for(value: float, *, bad: float, good: float) -> float:
    return float(_points(np.array([float(value)]), bad=bad, good=good)[0])


def band_for(score: float | None, *, red_below: float, green_at: float) -> str:
    if score is None:
        return ""
    code = _band_codes(np.array([float(score)]), red_below=red_below, green_at=green_at)[0]
    return _BANDS[int(code)]


def _points(values: np.ndarray, *, bad: float, good: float) -> np.ndarray:
    """points = clamp(0, 100, 100 · (value − bad) / (good − bad)), element-wise."""
    raw = 100.0 * (values - bad) / (good - bad)
    return np.minimum(100.0, np.maximum(0.0, raw))


def _band_codes(score: np.ndarray, *, red_below: float, green_at: float) -> np.ndarray:
    """Index into ``_BANDS``: 0 no score (NaN), 1 red, 2 yellow, 3 green."""
    with np.errstate(invalid="ignore"):
        codes = np.where(score < red_below, 1, np.where(score >= green_at, 3, 2))
    return np.where(np.isnan(score), 0, codes).astype(np.int8)


def window_stats(
    observations: Sequence[tuple[datetime, float]], *, at: datetime, window_days: int
) -> WindowStats:
    """Stats of ``observations`` (sorted by time or not) for the window ending at ``at``."""
    pts = sorted(observations)
    times = [t for t, _ in pts]
    return _stats_sorted(times, [v for _, v in pts], at=at, window_days=window_days)


def _stats_sorted(
    times: Sequence[datetime], values: Sequence[float], *, at: datetime, window_days: int
) -> WindowStats:
    end = bisect.bisect_right(times, at)  # observations at or before ``at``
    if end == 0:
        return WindowStats()
    start = at - timedelta(days=window_days)
    prev_start = start - timedelta(days=window_days)
    i_start = bisect.bisect_right(times, start, 0, end)
    i_prev = bisect.bisect_right(times, prev_start, 0, i_start)
    current = values[i_start:end]
    previous = values[i_prev:i_start]
    return WindowStats(
        latest_at=times[end - 1],
        latest_value=values[end - 1],
        count=len(current),
        total=math.fsum(current),
        prev_count=len(previous),
        prev_total=math.fsum(previous),
    )


def aggregate(
    stats: WindowStats | None, *, aggregation: str, at: datetime, window_days: int
) -> tuple[float | None, bool]:
    """(value, stale) of one measure. ``value`` None = missing. (The batch core with N = 1.)"""
    measure = MeasureSpec(metric="", weight=1.0, aggregation=aggregation, window_days=window_days)
    arrays = StatsArrays.from_stats(
        ScorecardSpec(measures=(measure,)), [{("", window_days): stats} if stats else {}], at=at
    )
    values, stale = measure_values(ScorecardSpec(measures=(measure,)), arrays)
    value = float(values[0, 0])
    return (None if math.isnan(value) else value), bool(stale[0, 0])


def score_from_values(
    scorecard: ScorecardSpec, values: Sequence[tuple[float | None, bool]]
) -> ScoreResult:
    """Score from each measure's (value, stale), in the scorecard's measure order.
    (The batch core with N = 1.)"""
    if len(values) != len(scorecard.measures):
        raise ValueError("one (value, stale) pair per measure is required")
    row = np.array(
        [[math.nan if v is None else float(v) for v, _ in values]], dtype=np.float64
    ).reshape(1, len(values))
    stale = np.array([[bool(s) for _, s in values]], dtype=bool).reshape(1, len(values))
    return score_batch(scorecard, row, stale).result(0)


def score_from_stats(
    scorecard: ScorecardSpec,
    stats: Mapping[tuple[str, int], WindowStats],
    *,
    at: datetime,
) -> ScoreResult:
    arrays = StatsArrays.from_stats(scorecard, [stats], at=at)
    return score_batch(scorecard, *measure_values(scorecard, arrays)).result(0)


# --- the batch core: N accounts at once (every path above calls it) ----------------------


@dataclass(frozen=True)
class StatsArrays:
    """The ``WindowStats`` of N accounts for each of a scorecard's M measures, as (N, M)
    arrays (column j = measure j's metric and window).

    ``observed``: some observation at or before the moment exists; ``fresh``: the newest of
    them lies inside the measure's window; ``latest_value``: that newest value (NaN when
    unknown); ``count``/``total`` and ``prev_count``/``prev_total`` as in ``WindowStats``."""

    observed: np.ndarray
    fresh: np.ndarray
    count: np.ndarray
    total: np.ndarray
    prev_count: np.ndarray
    prev_total: np.ndarray
    latest_value: np.ndarray

    @classmethod
    def empty(cls, n: int, m: int) -> StatsArrays:
        return cls(
            observed=np.zeros((n, m), dtype=bool),
            fresh=np.zeros((n, m), dtype=bool),
            count=np.zeros((n, m), dtype=np.int64),
            total=np.zeros((n, m), dtype=np.float64),
            prev_count=np.zeros((n, m), dtype=np.int64),
            prev_total=np.zeros((n, m), dtype=np.float64),
            latest_value=np.full((n, m), np.nan, dtype=np.float64),
        )

    @classmethod
    def from_stats(
        cls,
        scorecard: ScorecardSpec,
        stats: Sequence[Mapping[tuple[str, int], WindowStats | None]],
        *,
        at: datetime,
    ) -> StatsArrays:
        """From one ``WindowStats`` mapping per account (a missing key = never observed)."""
        out = cls.empty(len(stats), len(scorecard.measures))
        for j, m in enumerate(scorecard.measures):
            start = at - timedelta(days=m.window_days)
            for i, by_key in enumerate(stats):
                s = by_key.get((m.metric, m.window_days))
                if s is None or s.latest_at is None:
                    continue
                out.observed[i, j] = True
                out.fresh[i, j] = s.latest_at > start
                out.count[i, j] = s.count
                out.total[i, j] = s.total
                out.prev_count[i, j] = s.prev_count
                out.prev_total[i, j] = s.prev_total
                out.latest_value[i, j] = math.nan if s.latest_value is None else s.latest_value
        return out


def measure_values(scorecard: ScorecardSpec, stats: StatsArrays) -> tuple[np.ndarray, np.ndarray]:
    """(values, stale), both (N, M): each measure's aggregated value (NaN = missing) and
    whether it is missing because its data went stale."""
    inside = stats.observed & stats.fresh & (stats.count > 0)
    stale = stats.observed & ~inside
    values = np.full(stats.total.shape, np.nan, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for j, m in enumerate(scorecard.measures):
            ok = inside[:, j]
            count = stats.count[:, j]
            if m.aggregation == "latest":
                v = stats.latest_value[:, j]
            elif m.aggregation == "sum":
                v = stats.total[:, j]
            elif m.aggregation == "count":
                v = count.astype(np.float64)
            elif m.aggregation == "avg":
                v = stats.total[:, j] / count
            elif m.aggregation == "change_pct":
                average = stats.total[:, j] / count
                prev_count = stats.prev_count[:, j]
                previous = stats.prev_total[:, j] / prev_count
                v = 100.0 * (average - previous) / np.abs(previous)
                ok = ok & (prev_count > 0) & (previous != 0)
            else:
                raise ValueError(
                    f"Unknown aggregation {m.aggregation!r}; use one of {', '.join(AGGREGATIONS)}."
                )
            values[:, j] = np.where(ok, v, np.nan)
    return values, stale


def round1_array(x: np.ndarray) -> np.ndarray:
    """``round1`` over an array: exact arithmetic where an element lies next to a .x5
    boundary (where binary floating point could round the other way), fast elsewhere."""
    tenfold = np.asarray(x, dtype=np.float64) * 10.0
    out = np.sign(tenfold) * np.floor(np.abs(tenfold) + 0.5) / 10.0
    frac = np.abs(tenfold) - np.floor(np.abs(tenfold))
    for i in np.flatnonzero(np.isfinite(tenfold) & (np.abs(frac - 0.5) < 1e-6)):
        out.flat[i] = round1(float(np.asarray(x).flat[i]))
    return out


def round_list(x: np.ndarray, digits: int) -> list[Any]:
    """``[round(v, digits) for v in x]``, vectorised. rint(v·10^d)/10^d is the same float as
    Python's correctly rounded ``round`` whenever v·10^d is an exact enough integer-plus-
    fraction to decide the rounding; the elements next to a .5 tie, or too large for the
    scaling to be exact, are rounded by Python."""
    x = np.asarray(x, dtype=np.float64)
    scale = 10.0**digits
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = x * scale
        out = (np.rint(scaled) / scale).tolist()
        frac = np.abs(scaled - np.floor(scaled))
        unsure = np.isfinite(x) & ((np.abs(frac - 0.5) < 1e-6) | ~(np.abs(scaled) < 2.0**52))
    for k in np.flatnonzero(unsure).tolist():
        out[k] = round(float(x[k]), digits)
    return out  # type: ignore[no-any-return]


@dataclass(frozen=True)
class BatchScores:
    """Scores of N accounts under one scorecard: ``score`` (N,) NaN = no data, ``band``
    (N,) index into ("", red, yellow, green), and per measure (N, M) ``values`` (NaN =
    missing), ``stale``, ``points`` (NaN = not counted) and ``contributions``."""

    scorecard: ScorecardSpec
    score: np.ndarray
    band: np.ndarray
    values: np.ndarray
    stale: np.ndarray
    points: np.ndarray
    contributions: np.ndarray

    def __len__(self) -> int:
        return int(self.score.shape[0])

    def score_at(self, i: int) -> float | None:
        s = float(self.score[i])
        return None if math.isnan(s) else s

    def band_at(self, i: int) -> str:
        return _BANDS[int(self.band[i])]

    @cached_property
    def _columns(
        self,
    ) -> list[tuple[list[float | None], list[float | None], list[float], list[bool]]]:
        """Per measure, the stored (value, points, contribution, stale) of every row, as
        Python lists: one numpy pass per column instead of Python work per cell.

        value: 12 significant digits (sums taken in another order, SQL vs Python, differ
        only in the last bits and must not look like a change of the breakdown; whole
        numbers below 10^12 already are their 12-digit form, the common case). points and
        contribution: 4 decimals; a measure not counted contributes 0."""
        scored = ~np.isnan(self.score)
        out = []
        for j in range(self.values.shape[1]):
            v, p = self.values[:, j], self.points[:, j]
            values: list[float | None] = v.tolist()
            with np.errstate(invalid="ignore"):
                inexact = np.isfinite(v) & ~((np.floor(v) == v) & (np.abs(v) < 1e12))
            for k in np.flatnonzero(inexact).tolist():
                values[k] = float(f"{values[k]:.12g}")
            for k in np.flatnonzero(np.isnan(v)).tolist():
                values[k] = None
            counted = ~np.isnan(p)
            points: list[float | None] = round_list(p, 4)
            for k in np.flatnonzero(~counted).tolist():
                points[k] = None
            contributions = np.where(counted & scored, self.contributions[:, j], 0.0)
            out.append((values, points, round_list(contributions, 4), self.stale[:, j].tolist()))
        return out

    def _rows(self, i: int) -> list[tuple[float | None, float | None, float, bool]]:
        """(value, points, contribution, stale) per measure, as stored in a breakdown."""
        return [(v[i], p[i], c[i], bool(st[i])) for v, p, c, st in self._columns]

    @cached_property
    def _breakdown_texts(self) -> list[str]:
        """Every row's breakdown as JSON text, a column at a time: orjson writes each
        column's numbers in one call, and a row is the join of its measures' pieces."""
        n = len(self)
        if n == 0 or not self.scorecard.measures:
            return ["[]"] * n

        def texts(column: list[Any]) -> list[str]:
            return orjson.dumps(column).decode()[1:-1].split(",")

        pieces = []
        for m, (values, points, contributions, stale) in zip(
            self.scorecard.measures, self._columns, strict=True
        ):
            head = (
                f'{{"metric":{_json(m.metric)},"name":{_json(m.label)},'
                f'"aggregation":{_json(m.aggregation)},"window_days":{_json(m.window_days)},'
                '"value":'
            )
            weight = f',"weight":{_json(float(m.weight))},"contribution":'
            pieces.append(
                [
                    f'{head}{v},"points":{p}{weight}{c},"stale":{s}}}'
                    for v, p, c, s in zip(
                        texts(values),
                        texts(points),
                        texts(contributions),
                        texts(stale),
                        strict=True,
                    )
                ]
            )
        return [f"[{row}]" for row in map(",".join, zip(*pieces, strict=True))]

    def breakdown_json(self, i: int) -> str:
        """``breakdown(i)`` as JSON text (what score history stores)."""
        return self._breakdown_texts[i]

    def result(self, i: int) -> ScoreResult:
        return ScoreResult(
            score=self.score_at(i),
            band=self.band_at(i),
            measures=tuple(
                MeasureResult(
                    metric=m.metric,
                    name=m.label,
                    aggregation=m.aggregation,
                    window_days=m.window_days,
                    value=value,
                    points=points,
                    weight=float(m.weight),
                    contribution=contribution,
                    stale=stale,
                )
                for m, (value, points, contribution, stale) in zip(
                    self.scorecard.measures, self._rows(i), strict=True
                )
            ),
        )

    def breakdown(self, i: int) -> list[dict[str, Any]]:
        """``result(i).breakdown()`` without the intermediate objects (the JSON text, read
        back: the same numbers, since orjson writes floats so that they read back exact)."""
        return orjson.loads(self._breakdown_texts[i])  # type: ignore[no-any-return]


def score_batch(scorecard: ScorecardSpec, values: np.ndarray, stale: np.ndarray) -> BatchScores:
    """The formula, for N accounts at once: ``values``/``stale`` are (N, M) as returned by
    ``measure_values`` (NaN = missing)."""
    policy = scorecard.missing_data
    if policy not in MISSING_POLICIES:
        raise ValueError(f"Unknown missing-data policy {policy!r}.")
    values = np.asarray(values, dtype=np.float64)
    n, m = values.shape
    usable = np.isfinite(values)
    points = np.full((n, m), np.nan, dtype=np.float64)
    for j, measure in enumerate(scorecard.measures):
        with np.errstate(invalid="ignore", over="ignore"):
            column = _points(values[:, j], bad=measure.bad, good=measure.good)
        points[:, j] = np.where(usable[:, j], column, np.nan)
    if policy == "zero":
        points[~usable] = 0.0
    elif policy == "neutral":
        points[~usable] = 50.0
    counted = ~np.isnan(points)
    # Column by column, left to right: the same sums as a plain loop over the measures.
    total_weight = np.zeros(n, dtype=np.float64)
    weighted = np.zeros(n, dtype=np.float64)
    for j, measure in enumerate(scorecard.measures):
        w = float(measure.weight)
        total_weight += np.where(counted[:, j], w, 0.0)
        weighted += np.where(counted[:, j], points[:, j] * w, 0.0)
    # "Usable" = at least one measure with real data; a policy alone never makes a score.
    has_data = (~np.isnan(values)).any(axis=1) if m else np.zeros(n, dtype=bool)
    scored = has_data & (total_weight > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.minimum(100.0, np.maximum(0.0, weighted / total_weight))
        score = np.where(scored, round1_array(np.where(scored, mean, 0.0)), np.nan)
        weights = np.array([float(x.weight) for x in scorecard.measures], dtype=np.float64)
        contributions = np.where(
            counted & scored[:, None], points * weights[None, :] / total_weight[:, None], 0.0
        )
    band = _band_codes(score, red_below=scorecard.red_below, green_at=scorecard.green_at)
    return BatchScores(
        scorecard=scorecard,
        score=score,
        band=band,
        values=values,
        stale=np.asarray(stale, dtype=bool),
        points=points,
        contributions=contributions,
    )


def score_account(
    scorecard: ScorecardSpec,
    observations: Mapping[str, Sequence[tuple[datetime, float]]],
    at: datetime,
) -> ScoreResult:
    """The score of one account at ``at`` from its raw observations (only those ≤ ``at``)."""
    sorted_obs = {key: sorted(points) for key, points in observations.items()}
    stats: dict[tuple[str, int], WindowStats] = {}
    for m in scorecard.measures:
        pts = sorted_obs.get(m.metric)
        if pts:
            stats[(m.metric, m.window_days)] = _stats_sorted(
                [t for t, _ in pts], [v for _, v in pts], at=at, window_days=m.window_days
            )
    return score_from_stats(scorecard, stats, at=at)


class SeriesIndex:
    """Observations of many accounts, sorted once, for scoring at many moments (backfill,
    backtest): ``stats(account, metric, at=…, window_days=…)`` is two binary searches."""

    def __init__(self, rows: Iterable[tuple[Any, str, datetime, float]]) -> None:
        series: dict[tuple[Any, str], list[tuple[datetime, float]]] = {}
        for account, metric, t, v in rows:
            series.setdefault((account, metric), []).append((t, v))
        self._times: dict[tuple[Any, str], list[datetime]] = {}
        self._values: dict[tuple[Any, str], list[float]] = {}
        for key, pts in series.items():
            pts.sort()
            self._times[key] = [t for t, _ in pts]
            self._values[key] = [v for _, v in pts]

    def stats_for(
        self, account: Any, scorecard: ScorecardSpec, *, at: datetime
    ) -> dict[tuple[str, int], WindowStats]:
        out: dict[tuple[str, int], WindowStats] = {}
        for m in scorecard.measures:
            key = (account, m.metric)
            times = self._times.get(key)
            if times:
                out[(m.metric, m.window_days)] = _stats_sorted(
                    times, self._values[key], at=at, window_days=m.window_days
                )
        return out

    def score(self, account: Any, scorecard: ScorecardSpec, *, at: datetime) -> ScoreResult:
        return score_from_stats(scorecard, self.stats_for(account, scorecard, at=at), at=at)


# --- why it moved ------------------------------------------------------------------------


def _fmt(value: float | None) -> str:
    if value is None:
        return "no data"
    if abs(value) >= 100 or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.1f}"


def _signed(points: float) -> str:
    sign = "+" if points >= 0 else "−"
    return f"{sign}{abs(points):.1f} points"


def mover_sentence(
    name: str, before: float | None, after: float | None, contribution_change: float
) -> str:
    if before is None and after is None:
        verb = "had no data"
        return f"{name} {verb}: {_signed(contribution_change)}"
    if before is None:
        return f"{name} arrived at {_fmt(after)}: {_signed(contribution_change)}"
    if after is None:
        return f"{name} stopped reporting (was {_fmt(before)}): {_signed(contribution_change)}"
    if after > before:
        verb = "rose"
    elif after < before:
        verb = "fell"
    else:
        # Same value, other points: the scorecard's thresholds for it changed.
        return (
            f"{name} stayed at {_fmt(after)} but the scorecard now rates it differently: "
            f"{_signed(contribution_change)}"
        )
    return f"{name} {verb} from {_fmt(before)} to {_fmt(after)}: {_signed(contribution_change)}"


def movers(
    before: Sequence[Mapping[str, Any]],
    after: Sequence[Mapping[str, Any]],
    *,
    limit: int = 3,
) -> list[Mover]:
    """The measures whose contribution changed most between two breakdowns (biggest first).

    Measures are matched by (metric, aggregation, window_days); a measure present in only one
    of the breakdowns (the scorecard changed) counts with contribution 0 on the other side.
    Changes smaller than 0.05 points are not movers, nor is a measure whose value and points
    did not change: its contribution moved only because other measures gained or lost data
    (the weights are renormalised), and those measures are the movers."""

    def key(row: Mapping[str, Any]) -> tuple[str, str, int]:
        return (str(row["metric"]), str(row["aggregation"]), int(row["window_days"]))

    old = {key(r): r for r in before}
    new = {key(r): r for r in after}
    found: list[Mover] = []
    for k in list(new) + [k for k in old if k not in new]:
        b, a = old.get(k), new.get(k)
        change = float((a or {}).get("contribution") or 0.0) - float(
            (b or {}).get("contribution") or 0.0
        )
        if abs(change) < 0.05:
            continue
        if (
            a is not None
            and b is not None
            and a.get("value") is not None
            and a.get("value") == b.get("value")
            and a.get("points") == b.get("points")
        ):
            continue
        row = a or b
        assert row is not None
        name = str(row.get("name") or row["metric"])
        bv = None if b is None else b.get("value")
        av = None if a is None else a.get("value")
        found.append(
            Mover(
                metric=str(row["metric"]),
                name=name,
                before=bv,
                after=av,
                contribution_change=round(change, 1),
                sentence=mover_sentence(name, bv, av, change),
            )
        )
    found.sort(key=lambda m: (-abs(m.contribution_change), m.metric))
    return found[:limit]


def _value_for_points(measure: MeasureSpec, target_points: float) -> float:
    return measure.bad + (measure.good - measure.bad) * target_points / 100.0


def path_to_green(scorecard: ScorecardSpec, result: ScoreResult) -> PathToGreen | None:
    """The smallest change of one or two measures that lifts ``result`` into green.

    "Smallest" = the fewest measures, then the least total movement measured in points
    (each measure moved only as far as needed). Only measures with a value can move
    (a measure without data has no value to improve from). None when already green, when
    there is no score, or when no measure can move.

    When no one or two measures reach green, the answer is the two measures that lift the
    score most (each raised to its ``good`` threshold) and how far that goes
    (``reaches_green`` False)."""
    if result.score is None or result.band == GREEN:
        return None
    measures = scorecard.measures
    rows = list(zip(measures, result.measures, strict=True))
    active = [(m, r) for m, r in rows if r.points is not None]
    total_weight = math.fsum(m.weight for m, _ in active)
    if total_weight <= 0:
        return None
    base = math.fsum(float(r.points or 0.0) * m.weight for m, r in active)
    # Need Σ points·weight ≥ target (slightly above, so rounding to one decimal keeps green).
    target = (scorecard.green_at - 0.04) * total_weight
    movable = [
        (i, m, r)
        for i, (m, r) in enumerate(rows)
        if r.points is not None and r.value is not None and r.points < 100.0
    ]
    best: tuple[float, tuple[tuple[int, float], ...]] | None = None
    # One measure.
    for i, m, r in movable:
        need = (target - base) / m.weight
        new_points = float(r.points or 0.0) + need
        if new_points <= 100.0:
            cand = (need, ((i, new_points),))
            if best is None or cand[0] < best[0]:
                best = cand
    if best is None:
        # Two measures: fill the heavier (weight) one first, it buys the most score per point.
        for a in range(len(movable)):
            for b in range(a + 1, len(movable)):
                pair = sorted((movable[a], movable[b]), key=lambda x: -x[1].weight)
                gap = target - base
                moves: list[tuple[int, float]] = []
                spent = 0.0
                for i, m, r in pair:
                    if gap <= 0:
                        break
                    room = 100.0 - float(r.points or 0.0)
                    step = min(room, gap / m.weight)
                    moves.append((i, float(r.points or 0.0) + step))
                    spent += step
                    gap -= step * m.weight
                if gap <= 1e-9 and (best is None or spent < best[0]):
                    best = (spent, tuple(moves))
    if best is None:
        return _best_two(scorecard, result, rows, movable)
    step_by_index: dict[int, GreenStep] = {}
    for i, new_points in best[1]:
        m, r = rows[i]
        step_by_index[i] = GreenStep(
            metric=m.metric,
            name=m.label,
            current_value=r.value,
            target_value=_nice_target(m, _value_for_points(m, new_points)),
        )
    after_values = [
        (step_by_index[i].target_value, False) if i in step_by_index else (r.value, r.stale)
        for i, (_, r) in enumerate(rows)
    ]
    score_after = score_from_values(scorecard, after_values).score
    parts = [
        f"{'lower' if measures[i].lower_is_better else 'raise'} {s.name} "
        f"from {_fmt(s.current_value)} to {_fmt(s.target_value)}"
        for i, s in step_by_index.items()
    ]
    steps = list(step_by_index.values())
    sentence = " and ".join(parts)
    sentence = sentence[0].upper() + sentence[1:] + f" to reach green ({_fmt(score_after)})."
    return PathToGreen(steps=tuple(steps), score_after=float(score_after or 0.0), sentence=sentence)


def _best_two(
    scorecard: ScorecardSpec,
    result: ScoreResult,
    rows: list[tuple[MeasureSpec, MeasureResult]],
    movable: list[tuple[int, MeasureSpec, MeasureResult]],
) -> PathToGreen | None:
    """The (up to) two measures whose move to ``good`` adds the most weighted points, and
    the score that would give: what a deep-red account can aim for first."""
    ranked = sorted(
        movable, key=lambda x: (-(100.0 - float(x[2].points or 0.0)) * x[1].weight, x[0])
    )[:2]
    if not ranked or result.score is None:
        return None
    chosen = {i: m for i, m, _ in ranked}
    after_values = [
        (chosen[i].good, False) if i in chosen else (r.value, r.stale)
        for i, (_, r) in enumerate(rows)
    ]
    after = score_from_values(scorecard, after_values)
    if after.score is None or after.score <= result.score:
        return None
    steps = tuple(
        GreenStep(metric=m.metric, name=m.label, current_value=r.value, target_value=m.good)
        for _, m, r in ranked
    )
    parts = [
        f"{'cutting' if m.lower_is_better else 'raising'} {m.label} "
        f"from {_fmt(r.value)} to {_fmt(m.good)}"
        for _, m, r in ranked
    ]
    sentence = " and ".join(parts)
    sentence = (
        sentence[0].upper()
        + sentence[1:]
        + f" would lift the score from {_fmt(result.score)} to {_fmt(after.score)}"
        + f" ({after.band}); green needs {_fmt(scorecard.green_at)}."
    )
    return PathToGreen(
        steps=steps, score_after=float(after.score), sentence=sentence, reaches_green=False
    )


def _nice_target(measure: MeasureSpec, raw: float) -> float:
    """Round the target value outward (never short of green): to 0.1 in the measure's
    direction of improvement."""
    scaled = raw * 10
    rounded = math.floor(scaled + 1e-9) if measure.lower_is_better else math.ceil(scaled - 1e-9)
    return rounded / 10
