"""Scorecards: versioned drafts, validation, publishing, rolling back.

Editing never changes a published version: it creates a draft (``create_scorecard_draft``,
``update_scorecard_draft``); ``publish_scorecard`` makes a draft the active version of its
segment, retires the one it replaces and marks exactly the accounts it scores dirty."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.services.audit import Action, ObjectType, diff, record_audit
from chs_site.errors import ApplicationError, Conflict, PermissionDenied, ValidationFailed
from chs_site.formatting import number
from scoring import engine
from scoring.contracts import MEASURE_WEIGHT_MAX, METRIC_VALUE_LIMIT, MeasureIn
from scoring.models import Measure, MetricDefinition, Scorecard
from scoring.selectors.scorecards import matched_accounts
from scoring.services.dirty import mark_accounts_dirty


@transaction.atomic
def create_scorecard_draft(
    *,
    name: str,
    segment: str = "",
    red_below: float = engine.DEFAULT_RED_BELOW,
    green_at: float = engine.DEFAULT_GREEN_AT,
    missing_data: str = Scorecard.MissingData.IGNORE,
    measures: Sequence[MeasureIn],
    author: User | None = None,
    based_on: Scorecard | None = None,
) -> Scorecard:
    """A new draft version for ``segment`` (blank = the default scorecard)."""
    errors = validate_scorecard(
        name=name,
        red_below=red_below,
        green_at=green_at,
        missing_data=missing_data,
        measures=measures,
    )
    metric_ids = _check_measure_metrics(measures, errors)
    segment = segment.strip()
    last = Scorecard.objects.filter(segment=segment).order_by("-version").first()
    card = Scorecard.objects.create(
        name=name.strip(),
        segment=segment,
        version=(last.version + 1) if last else 1,
        red_below=red_below,
        green_at=green_at,
        missing_data=missing_data,
        created_by=author,
        based_on=based_on,
    )
    _write_measures(card, measures, metric_ids)
    record_audit(
        action=Action.CREATED,
        object_type=ObjectType.SCORECARD,
        obj=card,
        label=audit_label(card),
        actor=author,
        changes=diff({}, _audit_snapshot(card)),
    )
    return card


def audit_label(card: Scorecard) -> str:
    return f"{card.name} v{card.version} ({card.segment or 'default'})"


def _audit_snapshot(card: Scorecard) -> dict[str, Any]:
    """A version's settings and measures as the audit log compares them."""
    out: dict[str, Any] = {f: getattr(card, f) for f in ("segment", *SCORECARD_FIELDS)}
    for m in card.measures.select_related("metric").order_by("position"):
        out[f"measure {m.metric.key}"] = (
            f"weight {m.weight:g}, {m.aggregation} over {m.window_days}d, "
            f"bad {m.bad:g}, good {m.good:g}"
        )
    return out


def _check_measure_metrics(
    measures: Sequence[MeasureIn], errors: list[dict[str, str]]
) -> dict[str, int]:
    """Metric ids by key for ``measures``; adds an error per unknown key to ``errors`` and
    raises them all (with the other validation errors) if there is any."""
    metric_ids = dict(
        MetricDefinition.objects.filter(key__in={m.metric_key for m in measures}).values_list(
            "key", "pk"
        )
    )
    other_errors = len(errors)
    for i, m in enumerate(measures):
        if m.metric_key not in metric_ids:
            errors.append(
                {
                    "index": str(i),
                    "field": "metric",
                    "message": f"No metric with key {m.metric_key!r}.",
                }
            )
    if errors:
        # Only unknown metrics: well-formed, but naming what does not exist (a conflict).
        error = ValidationFailed if other_errors else Conflict
        raise error(
            "The scorecard was not saved: " + "; ".join(e["message"] for e in errors), errors=errors
        )
    return metric_ids


def _write_measures(
    card: Scorecard, measures: Sequence[MeasureIn], metric_ids: dict[str, int]
) -> None:
    Measure.objects.bulk_create(
        Measure(
            scorecard=card,
            metric_id=metric_ids[m.metric_key],
            weight=m.weight,
            aggregation=m.aggregation,
            window_days=m.window_days,
            bad=m.bad,
            good=m.good,
            position=i,
        )
        for i, m in enumerate(measures)
    )


def validate_scorecard(
    *,
    name: str,
    red_below: float,
    green_at: float,
    missing_data: str,
    measures: Sequence[MeasureIn],
) -> list[dict[str, str]]:
    errors: list[dict[str, str]] = []
    if not (name or "").strip():
        errors.append({"field": "name", "message": "A scorecard needs a name."})
    if not (0 <= red_below <= green_at <= 100):
        errors.append(
            {"field": "red_below", "message": "Thresholds need 0 ≤ red_below ≤ green_at ≤ 100."}
        )
    if missing_data not in Scorecard.MissingData.values:
        errors.append(
            {
                "field": "missing_data",
                "message": f"missing_data must be one of {', '.join(Scorecard.MissingData.values)}.",
            }
        )
    if not measures:
        errors.append({"field": "measures", "message": "A scorecard needs at least one measure."})
    for i, m in enumerate(measures):
        where = {"index": str(i)}
        if not (0 < m.weight <= MEASURE_WEIGHT_MAX):  # NaN fails too
            errors.append(
                {
                    **where,
                    "field": "weight",
                    "message": f"Measure {i}: the weight must be above 0 and at most {MEASURE_WEIGHT_MAX:g}.",
                }
            )
        if m.aggregation not in Measure.Aggregation.values:
            errors.append(
                {
                    **where,
                    "field": "aggregation",
                    "message": f"Measure {i}: aggregation must be one of {', '.join(Measure.Aggregation.values)}.",
                }
            )
        if not (isinstance(m.window_days, int) and 1 <= m.window_days <= 3650):
            errors.append(
                {
                    **where,
                    "field": "window_days",
                    "message": f"Measure {i}: window_days must be 1–3650.",
                }
            )
        if m.bad == m.good or not (math.isfinite(m.bad) and math.isfinite(m.good)):
            errors.append(
                {
                    **where,
                    "field": "good",
                    "message": f"Measure {i}: bad and good must be different numbers.",
                }
            )
        elif max(abs(m.bad), abs(m.good)) > METRIC_VALUE_LIMIT:
            errors.append(
                {
                    **where,
                    "field": "good" if abs(m.good) > METRIC_VALUE_LIMIT else "bad",
                    "message": f"Measure {i}: bad and good must be between -{METRIC_VALUE_LIMIT:g} and {METRIC_VALUE_LIMIT:g}, like the values.",
                }
            )
    return errors


@transaction.atomic
def publish_scorecard(*, scorecard: Scorecard, author: User | None = None) -> Scorecard:
    """Make a draft the active version of its segment, retire the one it replaces, and mark
    exactly the accounts it scores dirty (its segment; for the default scorecard every
    account whose segment has no scorecard of its own)."""
    card = Scorecard.objects.select_for_update().get(pk=scorecard.pk)
    if card.status != Scorecard.Status.DRAFT:
        raise Conflict(f"Only a draft can be published; this version is {card.status}.")
    if not card.measures.exists():
        raise Conflict("Add at least one measure before publishing.")
    previous = Scorecard.objects.filter(
        segment=card.segment, status=Scorecard.Status.ACTIVE
    ).first()
    if previous is not None:
        previous.status = Scorecard.Status.RETIRED
        previous.save(update_fields=["status"])
    card.status = Scorecard.Status.ACTIVE
    card.published_at = timezone.now()
    card.published_by = author
    card.change_summary = _change_summary(previous, card)
    card.save(update_fields=["status", "published_at", "published_by", "change_summary"])
    record_audit(
        action=Action.PUBLISHED,
        object_type=ObjectType.SCORECARD,
        obj=card,
        label=audit_label(card),
        actor=author,
        changes={
            "status": [Scorecard.Status.DRAFT, Scorecard.Status.ACTIVE],
            "active version": [audit_label(previous) if previous else None, audit_label(card)],
        },
    )
    # Exactly the accounts the new version scores (read after the status change above).
    mark_accounts_dirty(
        account_ids=matched_accounts(card.segment).values_list("id", flat=True),
        reason="scorecard published",
    )
    scorecard.status, scorecard.published_at = card.status, card.published_at
    return card


# How a version-history line names each setting; the model's field names are for code.
SUMMARY_LABELS = {
    "weight": "weight",
    "aggregation": "aggregation",
    "window_days": "window (days)",
    "bad": "bad at",
    "good": "good at",
    "red_below": "Red below",
    "green_at": "Green at",
    "missing_data": "Missing data",
}


def _in_words(obj: Scorecard | Measure, field: str) -> str:
    """A setting's value as a person reads it: a choice by its label, a number without
    trailing zeros (40.0 → 40)."""
    value = getattr(obj, field)
    label = getattr(obj, f"get_{field}_display", None)  # Django adds it to choice fields
    if label is not None:
        return str(label())
    if isinstance(value, int | float):
        return number(value, places=2)
    return str(value)


def _change_summary(previous: Scorecard | None, card: Scorecard) -> list[str]:
    """What publishing ``card`` changed against ``previous``, one sentence per change
    ("Red below: 40 → 50.", "Logins: weight 2 → 3.")."""
    if previous is None:
        return ["First version for this segment."]
    old = {m.metric.key: m for m in previous.measures.select_related("metric")}
    new = {m.metric.key: m for m in card.measures.select_related("metric")}
    lines = []
    for key in sorted(new.keys() - old.keys()):
        lines.append(f"Added {new[key].metric.name}.")
    for key in sorted(old.keys() - new.keys()):
        lines.append(f"Removed {old[key].metric.name}.")
    for key in sorted(new.keys() & old.keys()):
        a, b = old[key], new[key]
        for f in MEASURE_FIELDS:
            if getattr(a, f) != getattr(b, f):
                lines.append(
                    f"{b.metric.name}: {SUMMARY_LABELS[f]} {_in_words(a, f)} → {_in_words(b, f)}."
                )
    for f in ("red_below", "green_at", "missing_data"):
        if getattr(previous, f) != getattr(card, f):
            lines.append(f"{SUMMARY_LABELS[f]}: {_in_words(previous, f)} → {_in_words(card, f)}.")
    return lines or ["No changes."]


SCORECARD_FIELDS = ("name", "red_below", "green_at", "missing_data")
MEASURE_FIELDS = ("weight", "aggregation", "window_days", "bad", "good")


def check_scorecard_editor(author: Any) -> None:
    if not getattr(author, "is_admin", False):
        raise PermissionDenied("Only admins may edit scorecards.")


def measures_of(card: Scorecard) -> list[MeasureIn]:
    """A version's measures as the input of a new draft (copying a version)."""
    return [
        MeasureIn(metric_key=m.metric.key, **{f: getattr(m, f) for f in MEASURE_FIELDS})
        for m in card.measures.select_related("metric")
    ]


def _measures_in(rows: Sequence[dict[str, Any]]) -> list[MeasureIn]:
    return [
        MeasureIn(metric_key=m["metric"], **{f: m[f] for f in MEASURE_FIELDS if f in m})
        for m in rows
    ]


def create_scorecard_from_data(*, author: Any, data: dict[str, Any]) -> Scorecard:
    """The API's create: a new draft version from serializer data (``measures`` as dicts
    with a ``metric`` key), through ``create_scorecard_draft``."""
    check_scorecard_editor(author)
    return create_scorecard_draft(
        name=data.get("name", ""),
        segment=data.get("segment", "") or "",
        red_below=data.get("red_below", engine.DEFAULT_RED_BELOW),
        green_at=data.get("green_at", engine.DEFAULT_GREEN_AT),
        missing_data=data.get("missing_data", Scorecard.MissingData.IGNORE),
        measures=_measures_in(data.get("measures") or []),
        author=author,
    )


@transaction.atomic
def update_scorecard_draft(*, scorecard: Scorecard, author: Any, data: dict[str, Any]) -> Scorecard:
    """Edit a scorecard version. A draft is edited in place. An active or retired version
    is never changed: a new draft version based on it is created with the changes applied
    and returned (the caller tells by ``result.pk != scorecard.pk``). ``measures``, when
    given, replaces the whole list. The segment is fixed once created."""
    check_scorecard_editor(author)
    card = Scorecard.objects.select_for_update().get(pk=scorecard.pk)
    if "segment" in data and (data["segment"] or "") != card.segment:
        raise Conflict(  # well-formed, but this version's segment is set
            "A scorecard's segment cannot change; create a new scorecard for that segment.",
            errors=[{"field": "segment", "reason": "cannot change once created"}],
        )
    fields = {f: data.get(f, getattr(card, f)) for f in SCORECARD_FIELDS}
    if data.get("measures") is not None:
        measures = _measures_in(data["measures"])
    else:
        measures = measures_of(card)
    if card.status != Scorecard.Status.DRAFT:
        return create_scorecard_draft(
            segment=card.segment, measures=measures, author=author, based_on=card, **fields
        )

    metric_ids = _check_measure_metrics(measures, validate_scorecard(measures=measures, **fields))
    before = _audit_snapshot(card)
    for f, value in fields.items():
        setattr(card, f, value.strip() if isinstance(value, str) else value)
    card.save(update_fields=list(SCORECARD_FIELDS))
    if data.get("measures") is not None:
        card.measures.all().delete()
        _write_measures(card, measures, metric_ids)
    changes = diff(before, _audit_snapshot(card))
    if changes:
        record_audit(
            action=Action.UPDATED,
            object_type=ObjectType.SCORECARD,
            obj=card,
            label=audit_label(card),
            actor=author,
            changes=changes,
        )
    return card


@transaction.atomic
def rollback_scorecard(*, scorecard: Scorecard, author: Any) -> Scorecard:
    """Make an earlier version's content active again, versioned: a new version copying it
    (``based_on`` = that version) is created and published, so who, when and the diff are
    kept like any publish, and the affected accounts are re-scored."""
    check_scorecard_editor(author)
    card = Scorecard.objects.get(pk=scorecard.pk)
    if card.status == Scorecard.Status.ACTIVE:
        raise ApplicationError(f"Version {card.version} is already the active version.")
    if card.status == Scorecard.Status.DRAFT:
        raise ApplicationError("A draft has never been active; publish it instead.")
    measures = measures_of(card)
    copy = create_scorecard_draft(
        name=card.name,
        segment=card.segment,
        red_below=card.red_below,
        green_at=card.green_at,
        missing_data=card.missing_data,
        measures=measures,
        author=author,
        based_on=card,
    )
    published = publish_scorecard(scorecard=copy, author=author)
    published.change_summary = [
        f"Rolled back to version {card.version}.",
        *published.change_summary,
    ]
    published.save(update_fields=["change_summary"])
    record_audit(
        action=Action.ROLLED_BACK,
        object_type=ObjectType.SCORECARD,
        obj=published,
        label=audit_label(published),
        actor=author,
        changes={"content of": [None, audit_label(card)]},
    )
    return published
