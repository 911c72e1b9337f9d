"""Fixtures for the CSM workspace: an account with real score history (computed by the
scoring services over ``scorecard``, not written by hand)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from accounts.models import Account
from scoring.models import Scorecard
from scoring.services.recompute import recompute_dirty_accounts, recompute_scores
from tests.conftest import record


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
