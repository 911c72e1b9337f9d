"""Backtest metrics and the non-negative fit, against hand-computed small cases (no DB)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from scoring import engine
from scoring.validation import (
    OutcomeRow,
    TooFewOutcomes,
    auc_of_scores,
    backtest_metrics,
    fit_non_negative,
    suggest_weights,
)

SPEC = engine.ScorecardSpec(
    measures=(
        engine.MeasureSpec(metric="a", weight=1, bad=0, good=100),
        engine.MeasureSpec(metric="b", weight=1, bad=0, good=100),
    )
)


def row(i: int, score: float | None, churned: bool, a: float = 50, b: float = 50) -> OutcomeRow:
    """An outcome whose lead-time result has this score (band by the default thresholds)."""
    measures = tuple(
        engine.MeasureResult(
            metric=k,
            name=k,
            aggregation="latest",
            window_days=30,
            value=v,
            points=v,
            weight=1.0,
            contribution=v / 2,
            stale=False,
        )
        for k, v in (("a", a), ("b", b))
    )
    band = engine.band_for(score, red_below=40, green_at=70)
    return OutcomeRow(
        i,
        i,
        dt.date(2026, 1, 1),
        churned,
        engine.ScoreResult(score=score, band=band, measures=measures),
    )


def test_metrics_match_a_hand_computed_case() -> None:
    rows = [
        row(1, 20, True),  # red, churned
        row(2, 30, False),  # red, retained
        row(3, 50, True),  # yellow, churned
        row(4, 60, False),  # yellow
        row(5, 80, False),  # green
        row(6, 90, False),  # green
        row(7, None, True),  # no data, churned: counted in its band, not in the AUC
    ]
    m = backtest_metrics(rows)
    assert (m.n_outcomes, m.n_churned, m.n_scored) == (7, 3, 6)
    assert m.base_rate == round(3 / 7, 4)
    # Scored pairs (churned, retained): (20 vs 30,60,80,90) all 4 right; (50 vs 30) wrong,
    # (50 vs 60,80,90) right → 7 of 8 pairs ordered right.
    assert m.auc == pytest.approx(7 / 8)
    bands = {b.band: b for b in m.bands}
    assert (bands["red"].accounts, bands["red"].churned, bands["red"].churn_rate) == (2, 1, 0.5)
    assert bands["red"].lift == round(0.5 / round(3 / 7, 4), 2)
    assert (bands["green"].accounts, bands["green"].churned, bands["green"].churn_rate) == (2, 0, 0)
    assert bands[""].accounts == 1
    assert m.red_precision == 0.5  # 1 of the 2 red churned
    assert m.red_recall == round(1 / 3, 4)  # 1 of the 3 churned was red
    calib = {c.low: c for c in m.calibration}
    assert (calib[20].accounts, calib[20].churned, calib[20].churn_rate) == (1, 1, 1.0)
    assert calib[90].accounts == 1 and calib[90].churn_rate == 0.0
    assert not m.enough


def test_auc_is_none_with_one_class_only() -> None:
    assert auc_of_scores([True, True], [10, 20]) is None
    assert auc_of_scores([True, False], [10, 20]) == 1.0
    assert auc_of_scores([True, False], [20, 10]) == 0.0


def test_suggest_weights_says_too_few_outcomes_below_the_threshold() -> None:
    rows = [row(i, 30, True) for i in range(29)] + [row(100 + i, 80, False) for i in range(100)]
    with pytest.raises(TooFewOutcomes, match="29 churned and 100 retained"):
        suggest_weights(SPEC, rows)


def test_non_negative_fit_recovers_the_signal_and_drops_a_reversed_measure() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, size=(600, 3))
    # Retained depends on feature 0 only (positively); feature 2 is anti-correlated noise
    # that an unconstrained fit would give a negative weight.
    logits = 8 * (x[:, 0] - 0.5) - 2 * (x[:, 2] - 0.5)
    retained = (rng.uniform(size=600) < 1 / (1 + np.exp(-logits))).astype(int)
    fit = fit_non_negative(x, retained)
    assert fit.coefficients[0] > 1.0
    assert all(c >= 0 for c in fit.coefficients)
    assert 2 in fit.dropped  # the reversed measure is flagged, not given a negative weight
