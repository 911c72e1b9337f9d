"""Score signals for the Today page: who entered red lately, whose score fell. Read from
score history (computed scores); the page assembles them in
``playbooks.selectors.attention``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import F, Max, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce

from accounts.models import Account, HealthBand
from scoring.models import Score

# Before any history: "entered red" then means the first red score.
_BEFORE_HISTORY = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class RedEntry:
    entered_at: dt.datetime
    score: float | None
    previous_score: float | None  # the last score before red; None: red from its first score
    previous_band: str


def entered_red(accounts: QuerySet[Account], *, since: dt.datetime) -> dict[int, RedEntry]:
    """Accounts shown red now whose computed history turned red at or after ``since``: when
    (the first red score after the last non-red one) and from what. One query, over the red
    accounts only."""
    last_not_red = (
        Score.objects.filter(account=OuterRef("pk"))
        .exclude(band=HealthBand.RED)
        .order_by("-computed_at")
    )
    first_red_after = Score.objects.filter(
        account=OuterRef("pk"),
        band=HealthBand.RED,
        computed_at__gt=Coalesce(OuterRef("was_at"), _BEFORE_HISTORY),
    ).order_by("computed_at")
    rows = (
        accounts.filter(health_band=HealthBand.RED)
        .order_by()
        .annotate(
            was_at=Subquery(last_not_red.values("computed_at")[:1]),
            was_score=Subquery(last_not_red.values("score")[:1]),
            was_band=Subquery(last_not_red.values("band")[:1]),
        )
        .annotate(entered_at=Subquery(first_red_after.values("computed_at")[:1]))
        .filter(entered_at__gte=since)
        .values_list("pk", "entered_at", "health_score", "was_score", "was_band")
    )
    return {
        pk: RedEntry(entered_at, score, was_score, was_band or "")
        for pk, entered_at, score, was_score, was_band in rows
    }


@dataclass(frozen=True)
class Drop:
    peak: float
    score: float

    @property
    def points(self) -> float:
        return round(self.peak - self.score, 1)


def score_drops(
    accounts: QuerySet[Account], *, since: dt.datetime, points: float
) -> dict[int, Drop]:
    """Accounts whose computed score now is at least ``points`` below their highest
    computed score since ``since`` (the same "N-day high" as the score-drop playbook
    trigger). One grouped query over the look-back's history."""
    rows = (
        Score.objects.filter(
            account__in=accounts.filter(computed_score__isnull=False).order_by().values("pk"),
            computed_at__gte=since,
            score__isnull=False,
        )
        .values("account_id")
        .annotate(peak=Max("score"), now=Max("account__computed_score"))
        .filter(peak__gte=F("now") + points)
        .order_by()
        .values_list("account_id", "peak", "now")
    )
    return {pk: Drop(peak, now) for pk, peak, now in rows}
