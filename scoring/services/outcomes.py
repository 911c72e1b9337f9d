"""Outcomes: what happened at renewal time (renewed, churned, expanded, contracted), the
ground truth that validation checks the score against."""

from __future__ import annotations

import datetime as dt
import decimal

from django.db import transaction
from django.utils import timezone

from accounts.models import Account, Activity, LifecycleStage, User
from accounts.services.outbox import Topic, record_outbox_events
from chs_site.errors import ValidationFailed
from scoring.models import Outcome

OUTCOME_VERBS = {
    "renewed": "Renewed",
    "churned": "Churned",
    "expanded": "Expanded",
    "contracted": "Contracted",
}


@transaction.atomic
def record_outcome(
    *,
    user: User | None,
    account: Account,
    kind: str,
    occurred_at: dt.date,
    arr_change: decimal.Decimal | float | int,
    note: str = "",
) -> Outcome:
    """Record a renewal, churn, expansion or contraction. Idempotent on (account, kind,
    date): sending it again returns the same row (updated if the ARR change or note
    differ), and only a real change writes a timeline row. A churn moves the account to
    the churned lifecycle stage."""
    errors: list[dict[str, str]] = []
    if kind not in Outcome.Kind.values:
        errors.append({"field": "kind", "reason": f"use one of {', '.join(Outcome.Kind.values)}"})
    if isinstance(occurred_at, dt.datetime) or not isinstance(occurred_at, dt.date):
        errors.append({"field": "occurred_at", "reason": "must be a date (YYYY-MM-DD)"})
    elif occurred_at > timezone.localdate() + dt.timedelta(days=1):
        errors.append({"field": "occurred_at", "reason": "is in the future"})
    try:
        change = decimal.Decimal(str(arr_change)).quantize(decimal.Decimal("0.01"))
        if not change.is_finite() or abs(change) >= decimal.Decimal("1e12"):
            raise ArithmeticError
    except (ArithmeticError, ValueError):
        errors.append({"field": "arr_change", "reason": "must be a finite amount below 10^12"})
        change = decimal.Decimal(0)
    if errors:
        raise ValidationFailed("The outcome is invalid; see details.", errors=errors)

    outcome, created = Outcome.objects.select_for_update().get_or_create(
        account=account,
        kind=kind,
        occurred_at=occurred_at,
        defaults={"arr_change": change, "note": note, "recorded_by": user},
    )
    if kind == Outcome.Kind.CHURNED and account.lifecycle_stage != LifecycleStage.CHURNED:
        # The account has no renewal ahead any more: out of renewal lists and ARR at risk
        # (accounts.selectors.renewals), its page shows the ARR as lost.
        account.lifecycle_stage = LifecycleStage.CHURNED
        account.save(update_fields=["lifecycle_stage", "updated_at"])
    changed = not created and (outcome.arr_change != change or outcome.note != note)
    if changed:
        outcome.arr_change, outcome.note = change, note
        outcome.save(update_fields=["arr_change", "note"])
    if created or changed:
        record_outbox_events(topic=Topic.OUTCOME_RECORDED, items=[(account.pk, outcome.pk)])
        sign = "+" if change > 0 else ""
        Activity.objects.create(
            account=account,
            kind=Activity.Kind.OUTCOME,
            actor=user,
            occurred_at=timezone.now(),
            summary=(
                f"{OUTCOME_VERBS[kind]} on {occurred_at:%Y-%m-%d} (ARR {sign}{change:,.2f})"
                + (" — updated" if changed else "")
            )[:300],
            details={
                "kind": kind,
                "occurred_at": occurred_at.isoformat(),
                "arr_change": str(change),
            },
        )
    return outcome
