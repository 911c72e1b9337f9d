"""Score signals for the Today page: who entered red lately, whose score fell. Read from
score history (computed scores); the page assembles them in
``playbooks.selectors.attention``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import F, OuterRef, Q, QuerySet, Subquery, Value
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
    (the first red score after the last non-red one) and from what. Two queries: the red
    accounts that entered red in the window (the score in force at ``since`` was not red, or
    a non-red score came after it: two short probes of the history index per red account),
    then the details of those few."""
    in_force_then = Score.objects.filter(account=OuterRef("pk"), computed_at__lte=since).order_by(
        "-computed_at"
    )
    not_red_since = Score.objects.filter(account=OuterRef("pk"), computed_at__gt=since).exclude(
        band=HealthBand.RED
    )
    entered = list(
        accounts.filter(health_band=HealthBand.RED)
        .order_by()
        .annotate(
            band_then=Coalesce(Subquery(in_force_then.values("band")[:1]), Value("")),
            # LIMIT 1, not EXISTS: PostgreSQL hashes an EXISTS under OR by reading every
            # account's recent history; this stays a probe of the account's own rows.
            not_red_since=Subquery(not_red_since.values("pk")[:1]),
        )
        .filter(~Q(band_then=HealthBand.RED) | Q(not_red_since__isnull=False))
        .values_list("pk", flat=True)
    )
    if not entered:
        return {}
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
        Account.objects.filter(pk__in=entered)
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
    trigger). One query: a short probe of the history index per scored account, where a
    join over the window's history read every account's rows."""
    peak = (
        Score.objects.filter(account=OuterRef("pk"), computed_at__gte=since, score__isnull=False)
        .order_by("-score")
        .values("score")[:1]
    )
    rows = (
        accounts.filter(computed_score__isnull=False)
        .order_by()
        .annotate(peak=Subquery(peak))
        .filter(peak__gte=F("computed_score") + points)
        .values_list("pk", "peak", "computed_score")
    )
    return {
        pk: Drop(peak, score)
        for pk, peak, score in rows
        if score is not None  # filtered above; says so to the type checker
    }
