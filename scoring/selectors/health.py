"""One account's health as its page shows it (newest score, active override, a recompute
pending, score and metric history for the charts), and a page of accounts' sparklines
and override flags."""

from __future__ import annotations

import datetime as dt

from django.db.models import Exists, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Account
from scoring.models import DirtyAccount, MetricValue, Outcome, Score, ScoreOverride


def is_recompute_pending(account: Account) -> bool:
    """The account waits for a recompute while it has a dirty marker."""
    return DirtyAccount.objects.filter(account=account).exists()


def active_override(account: Account, *, now: dt.datetime | None = None) -> ScoreOverride | None:
    now = now or timezone.now()
    return (
        ScoreOverride.objects.filter(account=account, revoked_at__isnull=True, expires_at__gt=now)
        .select_related("author")
        .order_by("-created_at")
        .first()
    )


def latest_score(account: Account) -> Score | None:
    return (
        Score.objects.filter(account=account)
        .select_related("scorecard")
        .order_by("-computed_at")
        .first()
    )


def score_history_points(
    account: Account, *, since: dt.datetime
) -> list[tuple[dt.datetime, float | None, str]]:
    """(computed_at, score, band) since ``since`` plus the row in force when the window
    opened, oldest first; one query (an indexed range scan from that row on)."""
    opened = (
        Score.objects.filter(account=account, computed_at__lt=since)
        .order_by("-computed_at")
        .values("computed_at")[:1]
    )
    return list(
        Score.objects.filter(
            account=account, computed_at__gte=Coalesce(Subquery(opened), Value(since))
        )
        .order_by("computed_at")
        .values_list("computed_at", "score", "band")
    )


def metric_points(
    account: Account, *, metric_keys: list[str], since: dt.datetime
) -> dict[str, list[tuple[dt.datetime, float]]]:
    """Raw metric values for the page's per-metric charts, one query."""
    out: dict[str, list[tuple[dt.datetime, float]]] = {k: [] for k in metric_keys}
    rows = (
        MetricValue.objects.filter(
            account=account, metric__key__in=metric_keys, observed_at__gte=since
        )
        .order_by("observed_at")
        .values_list("metric__key", "observed_at", "value")
    )
    for key, at, value in rows:
        out[key].append((at, value))
    return out


def score_points_since(
    accounts: list[Account], *, since: dt.datetime
) -> dict[int, list[tuple[dt.datetime, float]]]:
    """Score steps since ``since`` for a page of accounts from ONE query. The value in force
    when the window opened comes from the denormalised ``score_change_30d`` (computed score
    now minus 30 days ago), so no second lookup per account is needed."""
    by_account: dict[int, list[tuple[dt.datetime, float]]] = {a.pk: [] for a in accounts}
    for a in accounts:
        if a.computed_score is not None and a.score_change_30d is not None:
            by_account[a.pk].append((since, round(a.computed_score - a.score_change_30d, 1)))
    rows = (
        Score.objects.filter(
            account_id__in=list(by_account), computed_at__gt=since, score__isnull=False
        )
        .order_by("account_id", "computed_at")
        .values_list("account_id", "computed_at", "score")
    )
    for account_id, at, score in rows:
        if score is not None:
            by_account[account_id].append((at, score))
    return by_account


def with_override_flag(
    accounts: QuerySet[Account], *, now: dt.datetime | None = None
) -> QuerySet[Account]:
    """``accounts`` annotated with ``overridden``: an active override hides the computed
    score. A correlated subquery: PostgreSQL evaluates it after the sort and LIMIT (only
    for the rows shown), and COUNT(*) drops it."""
    now = now or timezone.now()
    return accounts.annotate(
        overridden=Exists(
            ScoreOverride.objects.filter(
                account=OuterRef("pk"), revoked_at__isnull=True, expires_at__gt=now
            )
        )
    )


def recent_outcomes(account: Account, *, limit: int = 20) -> list[Outcome]:
    return list(account.outcomes.order_by("-occurred_at", "-id")[:limit])
