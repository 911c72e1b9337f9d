"""What a backfill will rewrite: the period, the accounts it scores and the stored history
rows it replaces (the job and its confirmation read the same period)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from scoring.models import Score, Scorecard
from scoring.selectors.scorecards import matched_accounts


def backfill_period(*, days: int, today: date) -> tuple[datetime, datetime]:
    """[start, end): the ``days`` whole UTC days before today (today keeps its live rows)."""
    midnight = datetime.combine(today, datetime.min.time(), tzinfo=UTC)
    return midnight - timedelta(days=days), midnight


@dataclass(frozen=True)
class BackfillScope:
    days: int
    accounts: int
    rows_replaced: int
    start: datetime
    end: datetime


def backfill_scope(*, scorecard: Scorecard, days: int, today: date) -> BackfillScope:
    """The accounts a backfill of ``scorecard`` scores and their history rows in the period
    it rewrites (2 queries; nothing is written)."""
    start, end = backfill_period(days=days, today=today)
    accounts = matched_accounts(scorecard.segment)
    rows = Score.objects.filter(
        account_id__in=accounts.values("id"), computed_at__gte=start, computed_at__lt=end
    ).count()
    return BackfillScope(
        days=days, accounts=accounts.count(), rows_replaced=rows, start=start, end=end
    )
