"""Renewals to come: the one rule for which accounts still have a renewal ahead. A churned
account (lifecycle stage churned, which recording a churn outcome sets) has none, so it
counts in no renewal list, no renewal trigger and no ARR-at-risk figure."""

from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet

from accounts.models import Account, LifecycleStage


def renewing_between(
    accounts: QuerySet[Account], *, first: dt.date, last: dt.date
) -> QuerySet[Account]:
    """``accounts`` whose renewal date falls in [first, last] and that have not churned."""
    return accounts.filter(renewal_date__gte=first, renewal_date__lte=last).exclude(
        lifecycle_stage=LifecycleStage.CHURNED
    )
