"""Fixtures for the CSM workspace: a published scorecard with NPS and CSAT measures and an
account with real score history (computed by the scoring services, not written by hand)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.cache import cache
from django.utils import timezone

from accounts.models import Account
from scoring.contracts import MetricValueIn
from scoring.models import Measure, MetricDefinition, Scorecard
from scoring.services.recompute import recompute_dirty_accounts, recompute_scores
from scoring.services.values import record_metric_values


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """The portfolio caches each user's segment counts briefly; tests reuse user ids."""
    cache.clear()


@pytest.fixture
def scorecard(db: None) -> Scorecard:
    nps, _ = MetricDefinition.objects.get_or_create(
        key="nps", defaults={"name": "NPS", "unit": "0–10"}
    )
    csat, _ = MetricDefinition.objects.get_or_create(
        key="csat", defaults={"name": "CSAT", "unit": "1–5"}
    )
    logins, _ = MetricDefinition.objects.get_or_create(
        key="logins", defaults={"name": "Weekly logins", "unit": "logins"}
    )
    card = Scorecard.objects.create(
        name="Default", segment="", status=Scorecard.Status.ACTIVE, red_below=40, green_at=70
    )
    Measure.objects.create(
        scorecard=card, metric=nps, weight=2, aggregation="latest", window_days=90, bad=0, good=10
    )
    Measure.objects.create(
        scorecard=card, metric=csat, weight=1, aggregation="latest", window_days=90, bad=1, good=5
    )
    Measure.objects.create(
        scorecard=card,
        metric=logins,
        weight=1,
        aggregation="avg",
        window_days=30,
        bad=0,
        good=50,
        position=2,
    )
    return card


def record(account: Account, metric: str, value: float, at: dt.datetime) -> None:
    metric_id = MetricDefinition.objects.get(key=metric).pk
    record_metric_values(
        values=[
            MetricValueIn(account_id=account.pk, metric_id=metric_id, value=value, observed_at=at)
        ]
    )


@pytest.fixture
def scored_account(account: Account, scorecard: Scorecard) -> Account:
    """``account`` with 60 days of history: healthy two months ago, slipping since."""
    now = timezone.now()
    for days_ago, nps, logins in ((60, 9, 45), (40, 8, 40), (20, 6, 30), (3, 5, 20)):
        at = now - dt.timedelta(days=days_ago)
        record(account, "nps", nps, at)
        record(account, "csat", 4, at)
        record(account, "logins", logins, at)
        recompute_scores(account_ids=[account.pk], at=at + dt.timedelta(minutes=1))
    recompute_dirty_accounts()  # consumes the dirty marker, as the worker would
    account.refresh_from_db()
    return account
