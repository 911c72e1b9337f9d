"""Does the score predict churn? Backtest, suggested weights and the churn-risk model.

Everything is scored by ``scoring/engine.py`` (the formula exists once):

* **Backtest** of a scorecard version: for each outcome, the version's score of the account
  at the *cut-off* = 00:00 UTC on (outcome date − ``lead_days``), from only the metric
  values observed strictly before that moment (``window_stats_for(at=cut-off − 1 µs)``: the
  SQL and the engine both ignore anything later, so there is no leakage). Outcomes are
  grouped by cut-off day, so the window stats cost two queries per distinct day, whatever
  the number of accounts.
* **Metrics** (``backtest_metrics``, pure): ROC AUC of "low score → churn" (scikit-learn),
  churn rate per band and lift against the base rate, precision and recall of red for
  churn, and a calibration table (churn rate per score decile).
* **Suggested weights** (``suggest_weights``, pure): an L2-regularised logistic regression
  of "retained" on each measure's points at lead time. Weights must be non-negative, and
  scikit-learn's ``LogisticRegression`` has no positivity constraint, so measures whose
  coefficient comes out ≤ 0 are dropped and the model is refitted on the rest until every
  coefficient is positive (an active-set fit, not a clip of the first fit); dropped measures
  are flagged "no signal". The suggestion's AUC is cross-validated (stratified 5-fold: fit
  on four folds, score the fifth *with the engine* using the suggested weights).
* **Churn risk** (``fit_churn_model`` service + ``churn_risk_for`` selector): the same fit
  on the active default scorecard's measures, stored in ``ChurnModel`` so a page reads
  coefficients instead of refitting.

With fewer than ``MIN_PER_CLASS`` churned *and* retained outcomes nothing is fitted: the
result says so plainly (``TooFewOutcomes``).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from django.db import transaction
from django.utils import timezone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from accounts.models import Account
from chs_site.errors import ApplicationError
from scoring import engine
from scoring.engine import ScorecardSpec, ScoreResult
from scoring.models import ChurnModel, Outcome, Scorecard
from scoring.selectors.scorecards import matched_accounts, scorecard_spec
from scoring.selectors.window_stats import window_stats_at_moments, window_stats_for
from scoring.services.scorecards import update_scorecard_draft

LEAD_DAYS_DEFAULT = 90
MIN_PER_CLASS = 30
CV_FOLDS = 5
BANDS = ("red", "yellow", "green", "")
BAND_LABELS = {"red": "Red", "yellow": "Yellow", "green": "Green", "": "No data"}
# A coefficient this small (relative to the largest) carries no usable signal.
NO_SIGNAL_SHARE = 0.05
# The regularisation strength of the fits (C = 1/λ on features scaled to 0..1).
REGULARISATION_C = 1.0


class TooFewOutcomes(ApplicationError):
    """Not enough churned and retained outcomes to fit anything honest."""


# --- plain data --------------------------------------------------------------------------


@dataclass(frozen=True)
class OutcomeRow:
    """One outcome with the account's score ``lead_days`` before it."""

    outcome_id: int
    account_id: int
    occurred_at: dt.date
    churned: bool
    result: ScoreResult

    @property
    def score(self) -> float | None:
        return self.result.score

    @property
    def band(self) -> str:
        return self.result.band


@dataclass(frozen=True)
class BandFigure:
    band: str
    accounts: int
    churned: int
    churn_rate: float | None
    lift: float | None

    @property
    def label(self) -> str:
        return BAND_LABELS[self.band]


@dataclass(frozen=True)
class CalibrationBin:
    low: float
    high: float
    accounts: int
    churned: int
    churn_rate: float | None


@dataclass(frozen=True)
class BacktestMetrics:
    n_outcomes: int
    n_churned: int
    n_scored: int
    base_rate: float | None
    auc: float | None
    bands: tuple[BandFigure, ...]
    red_precision: float | None
    red_recall: float | None
    calibration: tuple[CalibrationBin, ...]
    enough: bool  # at least MIN_PER_CLASS churned and retained outcomes

    def as_dict(self) -> dict[str, Any]:
        return {
            "n_outcomes": self.n_outcomes,
            "n_churned": self.n_churned,
            "n_scored": self.n_scored,
            "base_rate": self.base_rate,
            "auc": self.auc,
            "red_precision": self.red_precision,
            "red_recall": self.red_recall,
            "enough_outcomes": self.enough,
            "bands": {
                (b.band or "no_data"): {
                    "accounts": b.accounts,
                    "churned": b.churned,
                    "churn_rate": b.churn_rate,
                    "lift": b.lift,
                }
                for b in self.bands
            },
            "calibration": [
                {
                    "score_from": c.low,
                    "score_to": c.high,
                    "accounts": c.accounts,
                    "churned": c.churned,
                    "churn_rate": c.churn_rate,
                }
                for c in self.calibration
            ],
        }


@dataclass(frozen=True)
class SuggestedMeasure:
    measure: engine.MeasureSpec
    coefficient: float
    weight: float | None  # None = no signal (dropped)
    current_weight: float

    @property
    def no_signal(self) -> bool:
        return self.weight is None


@dataclass(frozen=True)
class Suggestion:
    measures: tuple[SuggestedMeasure, ...]
    intercept: float
    auc_current: float | None
    auc_suggested: float | None
    n_outcomes: int
    n_churned: int
    lead_days: int
    means: tuple[float, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {
            "lead_days": self.lead_days,
            "n_outcomes": self.n_outcomes,
            "n_churned": self.n_churned,
            "auc_current": self.auc_current,
            "auc_suggested": self.auc_suggested,
            "measures": [
                {
                    "metric": s.measure.metric,
                    "aggregation": s.measure.aggregation,
                    "window_days": s.measure.window_days,
                    "bad": s.measure.bad,
                    "good": s.measure.good,
                    "current_weight": s.current_weight,
                    "suggested_weight": s.weight,
                    "no_signal": s.no_signal,
                    "coefficient": round(s.coefficient, 4),
                }
                for s in self.measures
            ],
        }


# --- pure maths --------------------------------------------------------------------------


def _rate(k: int, n: int) -> float | None:
    return round(k / n, 4) if n else None


def auc_of_scores(churned: Sequence[bool], scores: Sequence[float]) -> float | None:
    """ROC AUC of "a lower score means churn"; None when only one class is present."""
    y = [int(c) for c in churned]
    if len(set(y)) < 2:
        return None
    return round(float(roc_auc_score(y, [-s for s in scores])), 4)


def backtest_metrics(
    rows: Sequence[OutcomeRow], *, min_per_class: int = MIN_PER_CLASS
) -> BacktestMetrics:
    n = len(rows)
    n_churned = sum(r.churned for r in rows)
    base = _rate(n_churned, n)
    scored = [r for r in rows if r.score is not None]
    auc = auc_of_scores([r.churned for r in scored], [float(r.score or 0) for r in scored])
    bands = []
    for band in BANDS:
        in_band = [r for r in rows if r.band == band]
        k = sum(r.churned for r in in_band)
        rate = _rate(k, len(in_band))
        lift = round(rate / base, 2) if rate is not None and base else None
        if band == "" and not in_band:
            continue
        bands.append(BandFigure(band, len(in_band), k, rate, lift))
    red = [r for r in rows if r.band == "red"]
    red_churned = sum(r.churned for r in red)
    calibration = []
    for low in range(0, 100, 10):
        high = low + 10
        inside = [
            r
            for r in scored
            if low <= float(r.score or 0) < high or (high == 100 and r.score == 100)
        ]
        k = sum(r.churned for r in inside)
        calibration.append(CalibrationBin(low, high, len(inside), k, _rate(k, len(inside))))
    return BacktestMetrics(
        n_outcomes=n,
        n_churned=n_churned,
        n_scored=len(scored),
        base_rate=base,
        auc=auc,
        bands=tuple(bands),
        red_precision=_rate(red_churned, len(red)),
        red_recall=_rate(red_churned, n_churned),
        calibration=tuple(calibration),
        enough=n_churned >= min_per_class and (n - n_churned) >= min_per_class,
    )


def feature_matrix(spec: ScorecardSpec, rows: Sequence[OutcomeRow]) -> np.ndarray:
    """Each measure's points at lead time scaled to 0..1; a missing measure counts as
    neutral (0.5), so "no data" neither helps nor hurts the fit."""
    out = np.full((len(rows), len(spec.measures)), 0.5)
    for i, r in enumerate(rows):
        for j, m in enumerate(r.result.measures):
            if m.value is not None and m.points is not None:
                out[i, j] = m.points / 100.0
    return out


@dataclass(frozen=True)
class NonNegativeFit:
    coefficients: tuple[float, ...]  # one per feature; 0.0 for dropped features
    intercept: float
    dropped: tuple[int, ...]


def fit_non_negative(x: np.ndarray, retained: np.ndarray) -> NonNegativeFit:
    """L2 logistic regression of ``retained`` with non-negative coefficients (active set:
    drop the features with a coefficient ≤ 0 and refit until none is left)."""
    active = list(range(x.shape[1]))
    coefs = np.zeros(x.shape[1])
    intercept = 0.0
    while active:
        model = LogisticRegression(C=REGULARISATION_C, max_iter=1000)
        model.fit(x[:, active], retained)
        fitted = model.coef_[0]
        intercept = float(model.intercept_[0])
        bad = [f for f, c in zip(active, fitted, strict=True) if c <= 0]
        if not bad:
            coefs[:] = 0.0
            coefs[active] = fitted
            break
        active = [f for f in active if f not in bad]
    else:
        intercept = float(np.log(max(retained.mean(), 1e-9) / max(1 - retained.mean(), 1e-9)))
    # Tiny coefficients are regularisation noise: count them as no signal too.
    top = coefs.max() if len(coefs) else 0.0
    dropped = tuple(
        j for j in range(x.shape[1]) if coefs[j] <= 0 or coefs[j] < NO_SIGNAL_SHARE * top
    )
    for j in dropped:
        coefs[j] = 0.0
    return NonNegativeFit(tuple(float(c) for c in coefs), intercept, dropped)


def weights_from_fit(fit: NonNegativeFit, *, total: float) -> list[float | None]:
    """Coefficients rescaled to add up to ``total`` (the current weights' sum, so the
    suggestion reads in the admin's units), to one decimal, at least 0.1."""
    s = sum(fit.coefficients)
    if s <= 0:
        return [None] * len(fit.coefficients)
    return [None if c <= 0 else max(0.1, round(c / s * total, 1)) for c in fit.coefficients]


def _score_with_weights(
    spec: ScorecardSpec, rows: Sequence[OutcomeRow], weights: Sequence[float | None]
) -> list[float | None]:
    """Scores of ``rows`` under ``spec`` with other weights: the engine re-weights each
    row's measure values (same missing-data policy, same rounding)."""
    kept = [j for j, w in enumerate(weights) if w is not None]
    if not kept:
        return [None] * len(rows)
    new_spec = replace(
        spec,
        measures=tuple(replace(spec.measures[j], weight=float(weights[j] or 0)) for j in kept),
    )
    out = []
    for r in rows:
        values = [(r.result.measures[j].value, r.result.measures[j].stale) for j in kept]
        out.append(engine.score_from_values(new_spec, values).score)
    return out


def _auc_rows(rows: Sequence[OutcomeRow], scores: Sequence[float | None]) -> float | None:
    pairs = [(r.churned, s) for r, s in zip(rows, scores, strict=True) if s is not None]
    return auc_of_scores([c for c, _ in pairs], [float(s) for _, s in pairs])


def suggest_weights(
    spec: ScorecardSpec,
    rows: Sequence[OutcomeRow],
    *,
    lead_days: int = LEAD_DAYS_DEFAULT,
    min_per_class: int = MIN_PER_CLASS,
) -> Suggestion:
    """Non-negative weights for ``spec``'s measures that best separate churned from
    retained outcomes; raises ``TooFewOutcomes`` below ``min_per_class`` of either."""
    n_churned = sum(r.churned for r in rows)
    n_retained = len(rows) - n_churned
    if n_churned < min_per_class or n_retained < min_per_class:
        raise TooFewOutcomes(
            f"Too few outcomes to suggest weights: {n_churned} churned and {n_retained} "
            f"retained at {lead_days} days' lead; at least {min_per_class} of each are needed. "
            "Record more renewals and churns first."
        )
    if not spec.measures:
        raise ApplicationError("This scorecard has no measures to weigh.")
    x = feature_matrix(spec, rows)
    retained = np.array([0 if r.churned else 1 for r in rows])
    total = math.fsum(m.weight for m in spec.measures) or float(len(spec.measures))
    fit = fit_non_negative(x, retained)
    weights = weights_from_fit(fit, total=total)
    # Cross-validated AUC of the *procedure* (fit on 4 folds, score the 5th with the engine).
    folds = StratifiedKFold(n_splits=CV_FOLDS, shuffle=True, random_state=0)
    cv_scores: list[float | None] = [None] * len(rows)
    for train, test in folds.split(x, retained):
        fold_fit = fit_non_negative(x[train], retained[train])
        fold_weights = weights_from_fit(fold_fit, total=total)
        test_rows = [rows[i] for i in test]
        for i, s in zip(test, _score_with_weights(spec, test_rows, fold_weights), strict=True):
            cv_scores[i] = s
    current = [r.score for r in rows]
    return Suggestion(
        measures=tuple(
            SuggestedMeasure(
                measure=m,
                coefficient=fit.coefficients[j],
                weight=weights[j],
                current_weight=m.weight,
            )
            for j, m in enumerate(spec.measures)
        ),
        intercept=fit.intercept,
        auc_current=_auc_rows(rows, current),
        auc_suggested=_auc_rows(rows, cv_scores),
        n_outcomes=len(rows),
        n_churned=n_churned,
        lead_days=lead_days,
        means=tuple(float(v) for v in x.mean(axis=0)),
    )


def churn_probability(
    *, intercept: float, coefficients: Sequence[float], features: Sequence[float]
) -> float:
    """P(churn) of the fitted "retained" model: 1 − σ(b + Σ βᵢ·xᵢ)."""
    z = intercept + math.fsum(c * x for c, x in zip(coefficients, features, strict=True))
    return 1.0 / (1.0 + math.exp(z))


# --- reading outcomes and scoring them ---------------------------------------------------


def cutoff_moment(occurred_at: dt.date, lead_days: int) -> dt.datetime:
    """00:00 UTC on the day ``lead_days`` before the outcome."""
    day = occurred_at - dt.timedelta(days=lead_days)
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


StatsItem = tuple[
    tuple[int, int, dt.date, str], dt.datetime, dict[tuple[str, int], engine.WindowStats]
]


def backtest_stats(
    specs: Sequence[ScorecardSpec],
    outcomes: Iterable[tuple[int, int, dt.date, str]],
    *,
    lead_days: int = LEAD_DAYS_DEFAULT,
) -> list[StatsItem]:
    """The window stats every ``spec`` needs for each ``(outcome id, account id, date,
    kind)`` at its cut-off: set-based (three queries on PostgreSQL whatever the number of
    outcomes and cut-off days), with ``at`` one microsecond before the cut-off, so a value
    observed at or after the cut-off cannot reach the engine."""
    items = [
        (row, cutoff_moment(row[2], lead_days) - dt.timedelta(microseconds=1)) for row in outcomes
    ]
    stats = window_stats_at_moments(pairs=[(row[1], at) for row, at in items], specs=specs)
    return [(row, at, stats.get((row[1], at), {})) for row, at in items]


def rows_from_stats(spec: ScorecardSpec, items: Iterable[StatsItem]) -> list[OutcomeRow]:
    """Score each outcome with ``spec`` by the engine (pure, no query)."""
    out = [
        OutcomeRow(
            outcome_id,
            account_id,
            day,
            kind == Outcome.Kind.CHURNED,
            engine.score_from_stats(spec, stats, at=at),
        )
        for (outcome_id, account_id, day, kind), at, stats in items
    ]
    out.sort(key=lambda r: (r.occurred_at, r.outcome_id))
    return out


def backtest_rows(
    spec: ScorecardSpec,
    outcomes: Iterable[tuple[int, int, dt.date, str]],
    *,
    lead_days: int = LEAD_DAYS_DEFAULT,
) -> list[OutcomeRow]:
    """Score each outcome with ``spec`` at its cut-off (``backtest_stats`` + the engine)."""
    items = backtest_stats([spec], outcomes, lead_days=lead_days)
    return rows_from_stats(spec, items)


def outcomes_for(scorecard: Scorecard) -> list[tuple[int, int, dt.date, str]]:
    """Outcomes of the accounts the scorecard's segment matches (one query)."""
    return list(
        Outcome.objects.filter(account__in=matched_accounts(scorecard.segment))
        .order_by("occurred_at", "id")
        .values_list("id", "account_id", "occurred_at", "kind")
    )


@dataclass(frozen=True)
class Backtest:
    scorecard: Scorecard
    lead_days: int
    rows: tuple[OutcomeRow, ...]
    metrics: BacktestMetrics


def run_backtest(*, scorecard: Scorecard, lead_days: int = LEAD_DAYS_DEFAULT) -> Backtest:
    if not 1 <= lead_days <= 730:
        raise ApplicationError("lead_days must be between 1 and 730.")
    spec = scorecard_spec(scorecard)
    rows = backtest_rows(spec, outcomes_for(scorecard), lead_days=lead_days)
    return Backtest(scorecard, lead_days, tuple(rows), backtest_metrics(rows))


def run_suggestion(*, scorecard: Scorecard, lead_days: int = LEAD_DAYS_DEFAULT) -> Suggestion:
    spec = scorecard_spec(scorecard)
    rows = backtest_rows(spec, outcomes_for(scorecard), lead_days=lead_days)
    return suggest_weights(spec, rows, lead_days=lead_days)


# --- writes: a draft from a suggestion, the churn model ----------------------------------


@transaction.atomic
def create_draft_from_suggestion(
    *, scorecard: Scorecard, author: Any, lead_days: int = LEAD_DAYS_DEFAULT
) -> Scorecard:
    """A new draft of ``scorecard`` with the suggested weights (no-signal measures left
    out). Admins only."""
    suggestion = run_suggestion(scorecard=scorecard, lead_days=lead_days)
    kept = [s for s in suggestion.measures if s.weight is not None]
    if not kept:
        raise ApplicationError("No measure carries a signal; no draft was created.")
    data: dict[str, Any] = {
        "name": scorecard.name,
        "red_below": scorecard.red_below,
        "green_at": scorecard.green_at,
        "missing_data": scorecard.missing_data,
        "measures": [
            {
                "metric": s.measure.metric,
                "weight": s.weight,
                "aggregation": s.measure.aggregation,
                "window_days": s.measure.window_days,
                "bad": s.measure.bad,
                "good": s.measure.good,
            }
            for s in kept
        ],
    }
    # A draft is edited in place; an active or retired version gets a new draft based on it.
    return update_scorecard_draft(scorecard=scorecard, author=author, data=data)


def churn_model_scorecard() -> Scorecard | None:
    """The churn model uses the measures of the active default scorecard (every account
    can be scored by them, whatever its segment)."""
    return (
        Scorecard.objects.filter(status=Scorecard.Status.ACTIVE)
        .order_by("segment")  # "" (the default) first
        .first()
    )


@transaction.atomic
def fit_churn_model(*, lead_days: int = LEAD_DAYS_DEFAULT) -> ChurnModel:
    """Fit and store the churn-risk model on every outcome (all segments), using the
    default scorecard's measures. Raises ``TooFewOutcomes`` without enough outcomes."""
    card = churn_model_scorecard()
    if card is None:
        raise ApplicationError("No active scorecard: publish one before fitting a churn model.")
    spec = scorecard_spec(card)
    outcomes = list(
        Outcome.objects.order_by("occurred_at", "id").values_list(
            "id", "account_id", "occurred_at", "kind"
        )
    )
    rows = backtest_rows(spec, outcomes, lead_days=lead_days)
    suggestion = suggest_weights(spec, rows, lead_days=lead_days)
    model = ChurnModel.objects.create(
        scorecard=card,
        lead_days=lead_days,
        fitted_at=timezone.now(),
        intercept=suggestion.intercept,
        measures=[
            {
                "metric": s.measure.metric,
                "name": s.measure.label,
                "aggregation": s.measure.aggregation,
                "window_days": s.measure.window_days,
                "bad": s.measure.bad,
                "good": s.measure.good,
                "coefficient": s.coefficient,
                "mean": suggestion.means[j],
            }
            for j, s in enumerate(suggestion.measures)
        ],
        n_outcomes=suggestion.n_outcomes,
        n_churned=suggestion.n_churned,
        auc=suggestion.auc_suggested,
        outcomes_seen=Outcome.objects.count(),
    )
    return model


@dataclass(frozen=True)
class ChurnRisk:
    probability: float
    model: ChurnModel
    drivers: tuple[dict[str, Any], ...]

    @property
    def percent(self) -> int:
        return round(100 * self.probability)

    def as_dict(self) -> dict[str, Any]:
        return {
            "probability": round(self.probability, 4),
            "model_version": self.model.pk,
            "fitted_at": self.model.fitted_at,
            "model_auc": self.model.auc,
            "drivers": list(self.drivers),
        }


def current_churn_model() -> ChurnModel | None:
    return ChurnModel.objects.order_by("-fitted_at", "-id").first()


def _model_spec(model: ChurnModel) -> ScorecardSpec:
    return ScorecardSpec(
        measures=tuple(
            engine.MeasureSpec(
                metric=m["metric"],
                name=m.get("name", ""),
                weight=1.0,
                aggregation=m["aggregation"],
                window_days=int(m["window_days"]),
                bad=float(m["bad"]),
                good=float(m["good"]),
            )
            for m in model.measures
        )
    )


def _values_from_breakdown(
    spec: ScorecardSpec, breakdown: Sequence[dict[str, Any]]
) -> list[tuple[float | None, bool]] | None:
    """Each model measure's (value, stale) from a stored score breakdown, when it holds
    every one of them (same metric, aggregation and window); else None."""
    rows = {(r.get("metric"), r.get("aggregation"), r.get("window_days")): r for r in breakdown}
    out = []
    for m in spec.measures:
        row = rows.get((m.metric, m.aggregation, m.window_days))
        if row is None:
            return None
        value = row.get("value")
        out.append((None if value is None else float(value), bool(row.get("stale"))))
    return out


def churn_risk_for(
    *,
    account: Account,
    model: ChurnModel | None = None,
    at: dt.datetime | None = None,
    breakdown: Sequence[dict[str, Any]] | None = None,
) -> ChurnRisk | None:
    """The stored model's churn probability for one account (nothing is refitted). The
    measure values come from the account's newest score ``breakdown`` when it has all the
    model's measures (no query), else from the window stats now (3 queries), through the
    engine either way. None without a model."""
    model = model or current_churn_model()
    if model is None or not model.measures:
        return None
    spec = _model_spec(model)
    values = _values_from_breakdown(spec, breakdown) if breakdown and at is None else None
    if values is not None:
        result = engine.score_from_values(spec, values)
    else:
        at = at or timezone.now()
        stats = window_stats_for(account_ids=[account.pk], specs=[spec], at=at)
        result = engine.score_from_stats(spec, stats.get(account.pk, {}), at=at)
    features = [
        (r.points / 100.0) if r.value is not None and r.points is not None else 0.5
        for r in result.measures
    ]
    coefs = [float(m["coefficient"]) for m in model.measures]
    p = churn_probability(intercept=model.intercept, coefficients=coefs, features=features)
    drivers = []
    for m, x, r in zip(model.measures, features, result.measures, strict=True):
        effect = float(m["coefficient"]) * (x - float(m.get("mean", 0.5)))
        if m["coefficient"] <= 0:
            continue
        drivers.append(
            {
                "metric": m["metric"],
                "name": m.get("name") or m["metric"],
                "value": r.value,
                "points": None if r.points is None or r.value is None else round(r.points, 1),
                # Negative effect = this measure raises the risk against the average account.
                "effect": round(effect, 3),
                "raises_risk": effect < 0,
            }
        )
    drivers.sort(key=lambda d: d["effect"])
    return ChurnRisk(probability=p, model=model, drivers=tuple(drivers[:3]))


def refit_churn_model(*, only_if_new_outcomes: bool = False) -> str:
    """Refit unless nothing changed since the last fit; a plain sentence of what happened
    (too few outcomes is an answer, not an error, for a background job)."""
    latest = current_churn_model()
    if (
        only_if_new_outcomes
        and latest is not None
        and latest.outcomes_seen == Outcome.objects.count()
    ):
        return "No new outcomes since the last fit."
    try:
        model = fit_churn_model()
    except ApplicationError as exc:
        return str(exc)
    return f"Fitted churn model #{model.pk} on {model.n_outcomes} outcomes."
