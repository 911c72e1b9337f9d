"""What a draft scorecard would do, computed from current data before anything is saved.

Set-based: the window stats of every matched account are read once for both versions (the
draft and the version that scores those accounts today) with ``window_stats.stats_table``, the
recompute's own reader (a fixed number of queries whatever the number of accounts); then
the engine's batch core scores every account under each version. Nothing is written.

Playbooks: publishing re-scores the accounts, and each change (stored score/band → new)
becomes a score event the playbooks react to. The preview returns the same changes
(``DraftPreview.changes``, ``scoring.contracts.ScoreChange``), so the page can ask the
playbooks what they would do about them (``playbooks.selectors.playbooks.publish_effects``)
without this app knowing them."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db.models import Count, Max
from django.utils import timezone

from accounts.models import Account
from scoring import engine, validation
from scoring.contracts import ScoreChange
from scoring.engine import ScorecardSpec
from scoring.models import MetricValue, Outcome, Scorecard
from scoring.selectors.scorecards import (
    active_scorecard_specs,
    matched_accounts,
    spec_for_segment,
)
from scoring.selectors.window_stats import StatsTable, stats_table

T = TypeVar("T")

# The editor re-renders the preview on every change; the window stats it needs depend only
# on the data and on the measures' (metric, window) pairs, not on weights or thresholds.
# They are kept per process for a minute, keyed by a cheap data version (newest metric
# value and outcome ids, outcome and account counts), so typing a weight re-runs only the
# engine. A value *updated in place* may show up to CACHE_SECONDS late in a preview.
CACHE_SECONDS = 60.0
CACHE_ENTRIES = 16
_cache: OrderedDict[tuple[Any, ...], tuple[float, Any]] = OrderedDict()
_cache_lock = threading.Lock()


def memo(key: tuple[Any, ...], compute: Callable[[], T]) -> T:
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None and now - hit[0] < CACHE_SECONDS:
            _cache.move_to_end(key)
            return hit[1]  # type: ignore[no-any-return]
    value = compute()
    with _cache_lock:
        _cache[key] = (now, value)
        while len(_cache) > CACHE_ENTRIES:
            _cache.popitem(last=False)
    return value


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


def data_version() -> tuple[Any, ...]:
    """Changes whenever metric values, outcomes or accounts are added (2 queries)."""
    newest_value = MetricValue.objects.aggregate(m=Max("id"))["m"]
    outcomes = Outcome.objects.aggregate(m=Max("id"), n=Count("id"))
    accounts = Account.objects.aggregate(m=Max("id"), n=Count("id"))
    return (newest_value, outcomes["m"], outcomes["n"], accounts["m"], accounts["n"])


def _windows(specs: list[ScorecardSpec]) -> frozenset[tuple[str, int]]:
    return frozenset((m.metric, m.window_days) for s in specs for m in s.measures)


BAND_ORDER = ("red", "yellow", "green", "")


@dataclass(frozen=True)
class Distribution:
    red: int
    yellow: int
    green: int
    no_data: int
    average: float | None
    histogram: tuple[int, ...]  # accounts per 10-point score bucket, 0–9 … 90–100

    @property
    def total(self) -> int:
        return self.red + self.yellow + self.green + self.no_data

    @property
    def counts(self) -> dict[str, int]:
        """Accounts per band ("" = no data)."""
        return {"red": self.red, "yellow": self.yellow, "green": self.green, "": self.no_data}

    def pct(self, band: str) -> int:
        count = {"red": self.red, "yellow": self.yellow, "green": self.green}.get(
            band, self.no_data
        )
        return round(100 * count / self.total) if self.total else 0

    @property
    def rows(self) -> list[tuple[str, str, int, int]]:
        return [
            (b, label, getattr(self, attr), self.pct(b))
            for b, label, attr in (
                ("red", "Red", "red"),
                ("yellow", "Yellow", "yellow"),
                ("green", "Green", "green"),
                ("", "No data", "no_data"),
            )
        ]


@dataclass(frozen=True)
class BandMove:
    account_id: int
    external_id: str
    name: str
    before_score: float | None
    before_band: str
    after_score: float | None
    after_band: str


@dataclass(frozen=True)
class DraftPreview:
    accounts: int
    before: Distribution
    after: Distribution
    moves: tuple[BandMove, ...]  # visible to the viewer, worst-first, at most ``limit``
    moved: int  # all accounts changing band (also those the viewer cannot see)
    changes: tuple[ScoreChange, ...]  # stored score/band → the draft's, every matched account
    at: dt.datetime
    compared_with: str  # the version scoring these accounts today


def distribution(all_scores: Sequence[float | None], all_bands: Sequence[str]) -> Distribution:
    bands = Counter(all_bands)
    scores = [s for s in all_scores if s is not None]
    hist = [0] * 10
    for s in scores:
        hist[min(9, int(s // 10))] += 1
    return Distribution(
        red=bands["red"],
        yellow=bands["yellow"],
        green=bands["green"],
        no_data=bands[""],
        average=engine.round1(sum(scores) / len(scores)) if scores else None,
        histogram=tuple(hist),
    )


def spec_scoring_today(segment: str) -> tuple[ScorecardSpec | None, str]:
    """The active version that scores a segment's accounts now (its own, else the default)."""
    specs = active_scorecard_specs()
    spec = spec_for_segment(specs, segment)
    if spec is None or spec.id is None:
        return None, "no active scorecard"
    card = Scorecard.objects.only("name", "version").get(pk=spec.id)
    return spec, f"{card.name} v{card.version} (active)"


def preview_draft(
    *,
    draft: Scorecard,
    spec: ScorecardSpec,
    visible_ids: Collection[int] | None = None,
    at: dt.datetime | None = None,
    limit: int = 50,
    version: tuple[Any, ...] | None = None,
) -> DraftPreview:
    """The effect of scoring ``draft``'s segment with ``spec`` (the draft as edited, maybe
    unsaved) against the version active today. ``visible_ids`` limits the listed accounts
    (None = all); counts always cover every matched account."""
    before_spec, compared_with = spec_scoring_today(draft.segment)
    accounts = list(
        matched_accounts(draft.segment)
        .order_by("id")
        .values_list("id", "external_id", "name", "computed_score", "computed_band")
    )
    ids = [a[0] for a in accounts]
    specs = [spec] + ([before_spec] if before_spec is not None else [])

    def compute() -> tuple[dt.datetime, StatsTable]:
        moment = at or timezone.now()
        return moment, stats_table(account_ids=ids, specs=specs, at=moment)

    key: tuple[Any, ...] | None = None
    if at is None:
        key = ("now", draft.segment, tuple(ids), _windows(specs), version or data_version())
        at, table = memo(key, compute)
    else:
        at, table = compute()
    rows = table.rows_of(ids)

    def scores_of(s: ScorecardSpec | None) -> tuple[list[float | None], list[str]]:
        """The engine's batch core over every matched account (one vectorised pass)."""
        if s is None:
            return [None] * len(ids), [""] * len(ids)
        batch = engine.score_batch(s, *engine.measure_values(s, table.for_scorecard(s, rows)))
        return [batch.score_at(i) for i in range(len(ids))], [
            batch.band_at(i) for i in range(len(ids))
        ]

    # The active version's scores do not change while the admin edits the draft.
    before_scores, before_bands = (
        memo(("before", key, before_spec), lambda: scores_of(before_spec))
        if key
        else scores_of(before_spec)
    )
    after_scores, after_bands = scores_of(spec)
    moves: list[BandMove] = []
    changes: list[ScoreChange] = []
    for i, (account_id, external_id, name, stored_score, stored_band) in enumerate(accounts):
        b_score, b_band, a_score, a_band = (
            before_scores[i],
            before_bands[i],
            after_scores[i],
            after_bands[i],
        )
        if b_band != a_band:
            moves.append(BandMove(account_id, external_id, name, b_score, b_band, a_score, a_band))
        if stored_score != a_score or (stored_band or "") != a_band:
            changes.append(
                ScoreChange(
                    account_id=account_id,
                    previous_score=stored_score,
                    previous_band=stored_band or "",
                    score=a_score,
                    band=a_band,
                    computed_at=at,
                    scorecard_id=spec.id,
                )
            )
    rank = {"red": 0, "yellow": 1, "green": 2, "": 3}
    moves.sort(key=lambda m: (rank[m.after_band], m.after_score or 0, m.name))
    shown = [m for m in moves if visible_ids is None or m.account_id in visible_ids]
    return DraftPreview(
        accounts=len(accounts),
        before=distribution(before_scores, before_bands),
        after=distribution(after_scores, after_bands),
        moves=tuple(shown[:limit]),
        moved=len(moves),
        changes=tuple(changes),
        at=at,
        compared_with=compared_with,
    )


@dataclass(frozen=True)
class BacktestPair:
    draft: validation.BacktestMetrics
    active: validation.BacktestMetrics | None


def preview_backtest(
    *,
    draft: Scorecard,
    spec: ScorecardSpec,
    active_spec: ScorecardSpec | None,
    lead_days: int = validation.LEAD_DAYS_DEFAULT,
    version: tuple[Any, ...] | None = None,
) -> BacktestPair:
    """Backtest figures of the draft as edited and of the active version, side by side,
    from one read of the window stats at every cut-off (cached like the preview)."""
    specs = [spec] + ([active_spec] if active_spec is not None else [])
    outcomes = validation.outcomes_for(draft)
    key = (
        "backtest",
        draft.segment,
        lead_days,
        tuple(outcomes),
        _windows(specs),
        version or data_version(),
    )
    items = memo(key, lambda: validation.backtest_stats(specs, outcomes, lead_days=lead_days))
    return BacktestPair(
        draft=validation.backtest_metrics(validation.rows_from_stats(spec, items)),
        active=(
            memo(
                ("backtest-active", key, active_spec),
                lambda: validation.backtest_metrics(validation.rows_from_stats(active_spec, items)),
            )
            if active_spec is not None
            else None
        ),
    )
