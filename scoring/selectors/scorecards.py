"""Scorecard versions as the engine sees them, and which accounts each one scores."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Count, QuerySet

from accounts.models import Account
from scoring import engine
from scoring.engine import ScorecardSpec
from scoring.models import Measure, MetricDefinition, Score, Scorecard


def scorecard_spec(
    scorecard: Scorecard, measures: Iterable[Measure] | None = None
) -> ScorecardSpec:
    """The engine's view of one scorecard version (measures with ``metric`` loaded)."""
    rows = (
        list(measures)
        if measures is not None
        else list(scorecard.measures.select_related("metric"))
    )
    return ScorecardSpec(
        id=scorecard.pk,
        name=scorecard.name,
        red_below=scorecard.red_below,
        green_at=scorecard.green_at,
        missing_data=scorecard.missing_data,
        measures=tuple(
            engine.MeasureSpec(
                metric=m.metric.key,
                name=m.metric.name,
                weight=m.weight,
                aggregation=m.aggregation,
                window_days=m.window_days,
                bad=m.bad,
                good=m.good,
            )
            for m in sorted(rows, key=lambda m: (m.position, m.pk or 0))
        ),
    )


def active_scorecard_specs() -> dict[str, ScorecardSpec]:
    """Active scorecard per segment ("" = the default), in two queries."""
    cards = list(
        Scorecard.objects.filter(status=Scorecard.Status.ACTIVE).prefetch_related(
            "measures__metric"
        )
    )
    return {c.segment: scorecard_spec(c, c.measures.all()) for c in cards}


def spec_for_segment(specs: dict[str, ScorecardSpec], segment: str) -> ScorecardSpec | None:
    """A segment-specific scorecard beats the default."""
    return specs.get(segment) or specs.get("")


def current_scorecard_for(account: Account) -> Scorecard | None:
    cards = Scorecard.objects.filter(
        status=Scorecard.Status.ACTIVE, segment__in={account.segment, ""}
    ).prefetch_related("measures__metric")
    by_segment = {c.segment: c for c in cards}
    return by_segment.get(account.segment) or by_segment.get("")


def metric_ids_by_key(keys: Iterable[str]) -> dict[str, int]:
    return dict(MetricDefinition.objects.filter(key__in=set(keys)).values_list("key", "id"))


def matched_accounts(segment: str) -> QuerySet[Account]:
    """The accounts a scorecard for ``segment`` scores: its segment, or for the default
    scorecard every account whose segment has no active scorecard of its own."""
    qs = Account.objects.all()
    if segment:
        return qs.filter(segment=segment)
    own = Scorecard.objects.filter(status=Scorecard.Status.ACTIVE).exclude(segment="")
    return qs.exclude(segment__in=own.values("segment"))


def metric_keys() -> list[str]:
    return list(MetricDefinition.objects.order_by("key").values_list("key", flat=True))


def thresholds_for(account: Account) -> tuple[float, float]:
    """(red_below, green_at) of the scorecard that scored ``account`` last; before its first
    score, of the version that will score it; without one, the defaults."""
    newest = (
        Score.objects.filter(account=account)
        .order_by("-computed_at")
        .values_list("scorecard__red_below", "scorecard__green_at")
        .first()
    )
    if newest is not None:
        return newest
    card = current_scorecard_for(account)
    if card is not None:
        return card.red_below, card.green_at
    return engine.DEFAULT_RED_BELOW, engine.DEFAULT_GREEN_AT


def book_thresholds(accounts: QuerySet[Account]) -> tuple[float, float]:
    """(red_below, green_at) for charts of a whole book (its average score): those of the
    active version that scores most of its accounts (two small queries)."""
    active = {
        segment: (red_below, green_at)
        for segment, red_below, green_at in Scorecard.objects.filter(
            status=Scorecard.Status.ACTIVE
        ).values_list("segment", "red_below", "green_at")
    }
    per_card: dict[str, int] = {}
    for segment, n in accounts.order_by().values_list("segment").annotate(n=Count("pk")):
        card = segment if segment in active else ""  # a segment's own version beats the default
        if card in active:
            per_card[card] = per_card.get(card, 0) + n
    if not per_card:
        return engine.DEFAULT_RED_BELOW, engine.DEFAULT_GREEN_AT
    return active[max(per_card, key=lambda card: per_card[card])]
