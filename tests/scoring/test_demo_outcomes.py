"""The demo's outcomes: deterministic, idempotent, and enough for suggested weights."""

from __future__ import annotations

import pytest
from django.utils import timezone

from accounts import demo as accounts_demo
from scoring import demo, demo_outcomes, validation
from scoring.models import ChurnModel, Outcome, Scorecard


@pytest.mark.postgres
@pytest.mark.django_db
def test_demo_outcomes_make_the_backtest_meaningful_and_seed_once() -> None:
    today = timezone.localdate()
    accounts_demo.seed(today=today)
    demo.seed(today=today)
    created = demo_outcomes.seed(today=today)
    assert created["outcomes"] == Outcome.objects.count() > 0
    assert created["churn_models"] == 1
    default = Scorecard.objects.get(segment="", status=Scorecard.Status.ACTIVE)
    backtest = validation.run_backtest(scorecard=default)
    assert backtest.metrics.enough  # ≥ 30 churned and ≥ 30 retained
    assert backtest.metrics.auc is not None and backtest.metrics.auc > 0.7
    suggestion = validation.run_suggestion(scorecard=default)
    assert suggestion.auc_suggested is not None
    kinds = dict(Outcome.objects.values_list("account__external_id", "kind"))

    again = demo_outcomes.seed(today=today)
    assert again == {"outcomes": 0, "churn_models": 0}
    assert ChurnModel.objects.count() == 1
    # Deterministic: the plan gives the same outcomes when asked again.
    Outcome.objects.all().delete()
    demo_outcomes.seed(today=today)
    assert dict(Outcome.objects.values_list("account__external_id", "kind")) == kinds
