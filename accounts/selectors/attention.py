"""What the accounts app knows about accounts that need attention (the Today page):
renewals coming up while not green, detractor feedback, and a book's headline figures.
The page assembles these with scoring's and playbooks' signals in
``playbooks.selectors.attention``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, Q, QuerySet, Sum

from accounts.models import NPS_DETRACTOR_MAX, Account, Feedback, HealthBand, LifecycleStage

# Headline keys: the shown bands, "none" for accounts without a score yet.
BANDS = ("red", "yellow", "green", "none")


def quarter_bounds(today: dt.date) -> tuple[dt.date, dt.date]:
    """The calendar quarter holding ``today``: its first day and the first day after it."""
    start = dt.date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    end = dt.date(start.year + (start.month == 10), (start.month + 3 - 1) % 12 + 1, 1)
    return start, end


@dataclass(frozen=True)
class Renewal:
    renewal_date: dt.date
    band: str


def renewing_not_green(
    accounts: QuerySet[Account], *, today: dt.date, days: int
) -> dict[int, Renewal]:
    """Accounts renewing from ``today`` to ``days`` days ahead whose shown band is not green
    (red, yellow or no score yet); churned accounts renew nothing. One query."""
    rows = (
        accounts.filter(renewal_date__gte=today, renewal_date__lte=today + dt.timedelta(days=days))
        .exclude(health_band=HealthBand.GREEN)
        .exclude(lifecycle_stage=LifecycleStage.CHURNED)
        .order_by()
        .values_list("pk", "renewal_date", "health_band")
    )
    return {
        pk: Renewal(renewal_date, band)
        for pk, renewal_date, band in rows
        if renewal_date is not None  # filtered above; says so to the type checker
    }


def detractor_filter() -> Q:
    """``Feedback.is_detractor`` as a query: an NPS answer of 0–6 or negative sentiment."""
    return Q(kind=Feedback.Kind.NPS, score__lte=NPS_DETRACTOR_MAX) | Q(
        sentiment=Feedback.Sentiment.NEGATIVE
    )


def recent_detractors(
    accounts: QuerySet[Account], *, since: dt.datetime
) -> dict[int, list[Feedback]]:
    """Detractor feedback since ``since`` per account, newest first (author loaded). One
    query."""
    rows = (
        Feedback.objects.filter(
            detractor_filter(), account__in=accounts.order_by().values("pk"), occurred_at__gte=since
        )
        .select_related("author")
        .order_by("account_id", "-occurred_at", "-pk")
    )
    out: dict[int, list[Feedback]] = {}
    for feedback in rows:
        out.setdefault(feedback.account_id, []).append(feedback)
    return out


@dataclass
class Headline:
    """A book's figures: ARR and accounts per shown band, and renewals this quarter per band
    (churned accounts left out of renewals)."""

    arr: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(BANDS, Decimal(0)))
    accounts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BANDS, 0))
    renewal_arr: dict[str, Decimal] = field(
        default_factory=lambda: dict.fromkeys(BANDS, Decimal(0))
    )
    renewals: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BANDS, 0))

    @property
    def arr_at_risk(self) -> Decimal:
        return self.arr["red"] + self.arr["yellow"]

    @property
    def renewals_total(self) -> int:
        return sum(self.renewals.values())

    @property
    def renewals_not_green(self) -> int:
        return self.renewals_total - self.renewals["green"]

    @property
    def renewal_arr_total(self) -> Decimal:
        return sum(self.renewal_arr.values(), Decimal(0))

    def add(self, other: Headline) -> None:
        for band in BANDS:
            self.arr[band] += other.arr[band]
            self.accounts[band] += other.accounts[band]
            self.renewal_arr[band] += other.renewal_arr[band]
            self.renewals[band] += other.renewals[band]


def headlines_by_owner(
    accounts: QuerySet[Account], *, today: dt.date
) -> dict[int | None, Headline]:
    """``Headline`` per owner (None: unowned) in one grouped query."""
    start, end = quarter_bounds(today)
    renewing = Q(renewal_date__gte=start, renewal_date__lt=end) & ~Q(
        lifecycle_stage=LifecycleStage.CHURNED
    )
    rows = (
        accounts.order_by()
        .values_list("owner_id", "health_band")
        .annotate(
            arr_total=Sum("arr"),
            n=Count("pk"),
            renew_arr=Sum("arr", filter=renewing),
            renew_n=Count("pk", filter=renewing),
        )
    )
    out: dict[int | None, Headline] = {}
    for owner_id, band, arr, n, renew_arr, renew_n in rows:
        line = out.setdefault(owner_id, Headline())
        band = band or "none"
        line.arr[band] += arr or Decimal(0)
        line.accounts[band] += n
        line.renewal_arr[band] += renew_arr or Decimal(0)
        line.renewals[band] += renew_n
    return out
