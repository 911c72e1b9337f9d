"""A manager's team at a glance: accounts per band, ARR at risk by renewal quarter, each
person's book. Score history and tasks are read by scoring's and playbooks' selectors."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db.models import Avg, Count, Q, QuerySet, Sum
from django.db.models.functions import TruncQuarter

from accounts.models import Account, Role, User
from accounts.selectors.access import visible_users
from accounts.selectors.renewals import renewing_between


def band_counts(accounts: QuerySet[Account]) -> dict[str, int]:
    rows = accounts.order_by().values_list("health_band").annotate(n=Count("pk"))
    return dict(rows)


def at_risk_arr_by_quarter(
    accounts: QuerySet[Account], *, today: dt.date, quarters: int = 4
) -> list[dict[str, Any]]:
    """Red and yellow ARR of accounts renewing in the next ``quarters`` calendar quarters
    (this one included; churned accounts have no renewal ahead), one grouped query."""
    first = dt.date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    labels: list[tuple[dt.date, str]] = []
    y, m = first.year, first.month
    for _ in range(quarters):
        labels.append((dt.date(y, m, 1), f"Q{(m - 1) // 3 + 1} {y}"))
        m += 3
        if m > 12:
            y, m = y + 1, m - 12
    end = dt.date(y, m, 1)
    rows = (
        renewing_between(accounts, first=today, last=end - dt.timedelta(days=1))
        .filter(health_band__in=["red", "yellow"])
        .order_by()
        .annotate(quarter=TruncQuarter("renewal_date"))
        .values_list("quarter", "health_band")
        .annotate(arr=Sum("arr"), n=Count("pk"))
    )
    totals: dict[tuple[dt.date, str], tuple[Decimal, int]] = {}
    for quarter, band, arr, n in rows:
        q = quarter.date() if isinstance(quarter, dt.datetime) else quarter
        totals[(q, band)] = (arr or Decimal(0), n)
    out = []
    for start, label in labels:
        red_arr, red_n = totals.get((start, "red"), (Decimal(0), 0))
        yellow_arr, yellow_n = totals.get((start, "yellow"), (Decimal(0), 0))
        out.append(
            {
                "label": label,
                "start": start,
                "red_arr": red_arr,
                "red_count": red_n,
                "yellow_arr": yellow_arr,
                "yellow_count": yellow_n,
                "total_arr": red_arr + yellow_arr,
            }
        )
    return out


def team_members(user: User) -> list[User]:
    """Per person in scope who owns accounts: book size, ARR, average score and accounts
    per band, in one grouped query whatever the team's size (their open and overdue tasks:
    ``playbooks.selectors.tasks.task_counts_by_assignee``)."""
    people: list[User] = list(
        visible_users(user)
        .filter(role__in=[Role.CSM, Role.MANAGER])
        .annotate(
            book_size=Count("owned_accounts"),
            book_arr=Sum("owned_accounts__arr"),
            book_avg=Avg("owned_accounts__health_score"),
            red=Count("owned_accounts", filter=Q(owned_accounts__health_band="red")),
            yellow=Count("owned_accounts", filter=Q(owned_accounts__health_band="yellow")),
            green=Count("owned_accounts", filter=Q(owned_accounts__health_band="green")),
        )
        .filter(Q(role=Role.CSM) | Q(book_size__gt=0))
        .select_related("team")
        .order_by("team__name", "first_name", "last_name", "username")
    )
    return people
