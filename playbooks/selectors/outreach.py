"""The accounts a bulk outreach would reach."""

from __future__ import annotations

import datetime as dt
from typing import Any

from accounts.models import Account, User
from accounts.selectors.access import visible_accounts
from accounts.selectors.renewals import renewing_between
from chs_site.errors import ApplicationError

OUTREACH_MAX = 1000


def outreach_accounts(actor: User, *, spec: Any, today: dt.date) -> list[Account]:
    qs = visible_accounts(actor).select_related("owner")
    if spec.account_ids is not None:  # rows picked on the portfolio
        qs = qs.filter(pk__in=spec.account_ids)
    if spec.band:
        qs = qs.filter(health_band=spec.band)
    if spec.segment:
        qs = qs.filter(segment=spec.segment)
    if spec.renewal_within_days is not None:
        qs = renewing_between(
            qs, first=today, last=today + dt.timedelta(days=spec.renewal_within_days)
        )
    if spec.score_drop_at_least is not None:
        qs = qs.filter(score_change_30d__lte=-spec.score_drop_at_least)
    accounts = list(qs.order_by("name", "pk")[: OUTREACH_MAX + 1])
    if len(accounts) > OUTREACH_MAX:
        raise ApplicationError(
            f"More than {OUTREACH_MAX} accounts match; narrow the filters (band, segment, "
            "renewal window or score drop)."
        )
    return accounts
