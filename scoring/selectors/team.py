"""A book's score history at a glance (the team dashboard): bands a month ago, who turned
red this week, the average score per day."""

from __future__ import annotations

import datetime as dt

from django.db import connection
from django.db.models import Count, F, OuterRef, QuerySet, Subquery, Value, Window
from django.db.models.functions import Coalesce, Lag, TruncDate

from accounts.models import Account
from scoring.models import Score


def band_counts_at(accounts: QuerySet[Account], *, at: dt.datetime) -> dict[str, int]:
    """Computed band per account as of ``at`` (the history row in force then), counted."""
    band_then = Subquery(
        Score.objects.filter(account=OuterRef("pk"), computed_at__lte=at)
        .order_by("-computed_at")
        .values("band")[:1]
    )
    rows = (
        accounts.order_by()
        .annotate(band_then=Coalesce(band_then, Value("")))
        .values_list("band_then")
        .annotate(n=Count("pk"))
    )
    return dict(rows)


def entered_red_since(accounts: QuerySet[Account], *, since: dt.datetime) -> QuerySet[Account]:
    """Accounts red now whose computed band was not red at ``since``."""
    band_then = Subquery(
        Score.objects.filter(account=OuterRef("pk"), computed_at__lte=since)
        .order_by("-computed_at")
        .values("band")[:1]
    )
    return (
        accounts.filter(health_band="red")
        .annotate(band_then=Coalesce(band_then, Value("")))
        .exclude(band_then="red")
        .select_related("owner")
        .order_by("health_score", "name")
    )


def average_score_by_day(
    accounts: QuerySet[Account], *, start: dt.date, end: dt.date
) -> list[tuple[dt.date, float]]:
    """The book's average computed score per day from ``start`` to ``end``.

    Score history is a step function per account (a row when the score changes), so the
    sum of all scores on a day is the sum of every change up to that day. One query walks
    the history once: each row contributes its change against the account's previous row
    (LAG) to its day; a running total over the days gives sum and count, hence the
    average, without a lookup per account per day."""
    inner = (
        Score.objects.filter(account__in=accounts.order_by().values("pk"), score__isnull=False)
        .annotate(
            day=TruncDate("computed_at"),
            previous=Window(
                Lag("score"), partition_by=[F("account_id")], order_by=F("computed_at").asc()
            ),
        )
        .values("day", "score", "previous")
    )
    sql, params = inner.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT day, SUM(score - COALESCE(previous, 0)), "
            "SUM(CASE WHEN previous IS NULL THEN 1 ELSE 0 END) "
            f"FROM ({sql}) AS history GROUP BY day ORDER BY day",  # noqa: S608 (Django-built SQL)
            params,
        )
        rows = cursor.fetchall()
    total = 0.0
    count = 0
    out: list[tuple[dt.date, float]] = []
    by_day: dict[dt.date, tuple[float, int]] = {}
    for day, delta, new in rows:
        d = dt.date.fromisoformat(day) if isinstance(day, str) else day
        by_day[d] = (float(delta or 0), int(new or 0))
    # Everything before the window folds into the opening total.
    for d in sorted(k for k in by_day if k < start):
        delta, new = by_day[d]
        total += delta
        count += new
    day = start
    while day <= end:
        delta, new = by_day.get(day, (0.0, 0))
        total += delta
        count += new
        if count:
            out.append((day, round(total / count, 1)))
        day += dt.timedelta(days=1)
    return out
