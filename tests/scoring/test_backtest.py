"""Backtests and suggested weights through the database, on synthetic data whose churn
follows a known hidden rule over a subset of measures."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from accounts.models import Account, User
from scoring import synthetic, validation
from scoring.models import MetricDefinition, MetricValue, Outcome, Scorecard
from scoring.selectors.scorecards import scorecard_spec
from scoring.selectors.window_stats import window_stats_at_moments, window_stats_for
from scoring.services.values import load_metric_values

pytestmark = pytest.mark.django_db


def test_true_weights_backtest_well_and_a_wrong_scorecard_clearly_worse(
    synth: synthetic.Synthetic, true_card: Scorecard, wrong_card: Scorecard
) -> None:
    true = validation.run_backtest(scorecard=true_card).metrics
    wrong = validation.run_backtest(scorecard=wrong_card).metrics
    assert true.n_outcomes == synth.outcomes == 240
    assert true.n_churned == synth.churned
    assert true.auc is not None and true.auc >= 0.85
    assert wrong.auc is not None and wrong.auc < true.auc - 0.2
    # Red churns far more than green under the true rule.
    bands = {b.band: b for b in true.bands}
    assert (bands["red"].churn_rate or 0) > 3 * (bands["green"].churn_rate or 0)


def test_suggested_weights_recover_the_signal_and_beat_the_wrong_scorecard(
    synth: synthetic.Synthetic, mixed_card: Scorecard, wrong_card: Scorecard
) -> None:
    suggestion = validation.run_suggestion(scorecard=mixed_card)
    weights = {s.measure.metric: (s.weight or 0.0) for s in suggestion.measures}
    for signal in synthetic.SIGNAL:
        for noise in synthetic.NOISE:
            assert weights[signal] > 3 * weights[noise]
    assert any(s.no_signal for s in suggestion.measures if s.measure.metric in synthetic.NOISE)
    wrong = validation.run_backtest(scorecard=wrong_card).metrics
    assert suggestion.auc_suggested is not None and suggestion.auc_current is not None
    assert suggestion.auc_suggested >= 0.85
    assert suggestion.auc_suggested > (wrong.auc or 0) + 0.2
    assert suggestion.auc_suggested > suggestion.auc_current


def test_one_click_draft_carries_the_suggested_weights(
    synth: synthetic.Synthetic, mixed_card: Scorecard, admin: User
) -> None:
    draft = validation.create_draft_from_suggestion(scorecard=mixed_card, author=admin)
    kept = {m.metric.key: m.weight for m in draft.measures.select_related("metric")}
    assert set(synthetic.SIGNAL) <= set(kept)
    assert draft.status == Scorecard.Status.DRAFT


@pytest.fixture
def leak_setup(account: Account) -> tuple[Scorecard, MetricDefinition, dt.date]:
    metric = MetricDefinition.objects.create(key="usage", name="Usage")
    card = synthetic.make_scorecard(
        metrics={"usage": metric}, keys=("usage",), name="Leak check", version=1
    )
    card.measures.update(aggregation="latest", window_days=30)
    occurred = timezone.localdate() - dt.timedelta(days=10)
    Outcome.objects.create(account=account, kind=Outcome.Kind.CHURNED, occurred_at=occurred)
    cut = validation.cutoff_moment(occurred, 90)
    load_metric_values([(account.pk, metric.pk, cut - dt.timedelta(days=5), 20.0)])
    return card, metric, occurred


def test_a_value_observed_after_the_cutoff_changes_nothing(
    account: Account, leak_setup: tuple[Scorecard, MetricDefinition, dt.date]
) -> None:
    card, metric, occurred = leak_setup
    before = validation.run_backtest(scorecard=card)
    assert [r.score for r in before.rows] == [20.0]
    cut = validation.cutoff_moment(occurred, 90)
    # At the cut-off itself and afterwards (up to the outcome): invisible to the backtest.
    load_metric_values(
        [
            (account.pk, metric.pk, cut, 95.0),
            (account.pk, metric.pk, cut + dt.timedelta(days=30), 99.0),
        ]
    )
    after = validation.run_backtest(scorecard=card)
    assert [r.score for r in after.rows] == [20.0]
    assert after.metrics.as_dict() == before.metrics.as_dict()


def test_a_value_observed_before_the_cutoff_does_count(
    account: Account, leak_setup: tuple[Scorecard, MetricDefinition, dt.date]
) -> None:
    """The leakage test above could not pass by ignoring every new value."""
    card, metric, occurred = leak_setup
    cut = validation.cutoff_moment(occurred, 90)
    load_metric_values([(account.pk, metric.pk, cut - dt.timedelta(hours=1), 80.0)])
    assert [r.score for r in validation.run_backtest(scorecard=card).rows] == [80.0]
    assert MetricValue.objects.count() == 2


def test_backtest_covers_only_the_segment_the_scorecard_matches(
    synth: synthetic.Synthetic, true_card: Scorecard, other_account: Account
) -> None:
    other_account.segment = "Enterprise"
    other_account.save(update_fields=["segment"])
    enterprise = synthetic.make_scorecard(
        metrics=synth.metrics, keys=synthetic.SIGNAL, segment="Enterprise", name="Ent"
    )
    Outcome.objects.create(
        account=other_account, kind=Outcome.Kind.RENEWED, occurred_at=timezone.localdate()
    )
    assert validation.run_backtest(scorecard=enterprise).metrics.n_outcomes == 1
    # The default no longer scores Enterprise accounts: their outcome is not in its backtest.
    assert validation.run_backtest(scorecard=true_card).metrics.n_outcomes == 240


@pytest.mark.postgres
def test_stats_at_many_moments_equal_the_engines_reference(
    synth: synthetic.Synthetic, true_card: Scorecard
) -> None:

    spec = scorecard_spec(true_card)
    now = timezone.now()
    moments = [now - dt.timedelta(days=d, hours=h) for d, h in ((0, 0), (17, 5), (90, 0), (175, 3))]
    pairs = [(a, at) for a in synth.account_ids[:25] for at in moments]
    many = window_stats_at_moments(pairs=pairs, specs=[spec])
    for at in moments:
        python = window_stats_for(account_ids=synth.account_ids[:25], specs=[spec], at=at)
        for a in synth.account_ids[:25]:
            got, py = many.get((a, at), {}), python.get(a, {})
            assert got.keys() == py.keys()
            for key in got:
                # Sums may differ in the last bit (the database adds in its own order).
                for field in ("latest_at", "latest_value", "count", "prev_count"):
                    assert getattr(got[key], field) == getattr(py[key], field)
                for field in ("total", "prev_total"):
                    assert getattr(got[key], field) == pytest.approx(getattr(py[key], field))
