"""Scoring fixtures: two metrics and an active default scorecard over them; for validation,
synthetic accounts whose churn follows a known hidden rule and scorecards to test on them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from django.utils import timezone

from accounts.models import Account, User
from scoring import synthetic
from scoring.contracts import MetricValueIn
from scoring.models import Measure, MetricDefinition, Scorecard
from scoring.services.values import record_metric_values


@pytest.fixture
def wau(db: None) -> MetricDefinition:
    return MetricDefinition.objects.create(key="wau", name="Weekly active users")


@pytest.fixture
def tickets(db: None) -> MetricDefinition:
    return MetricDefinition.objects.create(
        key="tickets", name="Open support tickets", direction="lower"
    )


@pytest.fixture
def default_scorecard(wau: MetricDefinition, tickets: MetricDefinition) -> Scorecard:
    """WAU latest/30d (0 → 100 users) weight 3; tickets latest/30d (10 → 0) weight 1."""
    card = Scorecard.objects.create(name="Default", status=Scorecard.Status.ACTIVE)
    Measure.objects.create(scorecard=card, metric=wau, weight=3, bad=0, good=100, position=0)
    Measure.objects.create(scorecard=card, metric=tickets, weight=1, bad=10, good=0, position=1)
    return card


Ingest = Callable[..., int]


@pytest.fixture
def ingest(django_capture_on_commit_callbacks: object) -> Ingest:
    """Record values like the API does, running the on-commit recompute (eager Celery)."""

    def _ingest(
        account: Account, metric: MetricDefinition, value: float, *, days_ago: float = 0
    ) -> int:
        at = timezone.now() - dt.timedelta(days=days_ago)
        with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
            return record_metric_values(
                values=[MetricValueIn(account.pk, metric.pk, value, at)], source="test"
            )

    return _ingest


# --- validation: synthetic accounts with a known hidden rule ------------------------------


@pytest.fixture
def synth(csm: User) -> synthetic.Synthetic:
    """240 accounts (the csm's book), a value every 3 days for 180 days, one outcome each."""
    return synthetic.generate(
        accounts=240, every_days=3, today=timezone.localdate(), owner=csm, segment="SMB"
    )


@pytest.fixture
def true_card(synth: synthetic.Synthetic) -> Scorecard:
    return synthetic.make_scorecard(
        metrics=synth.metrics, keys=synthetic.SIGNAL, name="True rule", version=1
    )


@pytest.fixture
def wrong_card(synth: synthetic.Synthetic, true_card: Scorecard) -> Scorecard:
    return synthetic.make_scorecard(
        metrics=synth.metrics,
        keys=synthetic.NOISE,
        name="Wrong",
        status=Scorecard.Status.RETIRED,
    )


@pytest.fixture
def mixed_card(synth: synthetic.Synthetic, true_card: Scorecard) -> Scorecard:
    """All four metrics with equal weights: a draft to tune."""
    return synthetic.make_scorecard(
        metrics=synth.metrics,
        keys=synthetic.NOISE + synthetic.SIGNAL,
        name="Mixed",
        status=Scorecard.Status.DRAFT,
    )
