"""Validation fixtures: synthetic accounts whose churn follows a known hidden rule."""

from __future__ import annotations

import pytest
from django.utils import timezone

from accounts.models import User
from scoring import synthetic
from scoring.models import Scorecard


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
