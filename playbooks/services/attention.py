"""Snoozing an account on the Today page: it leaves the list until a date, or until a
reason it was not snoozed for appears (``playbooks.selectors.attention``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django.db import transaction
from django.utils import timezone

from accounts.models import Account, Activity, User
from chs_site.errors import ValidationFailed
from chs_site.formatting import day_month, plural
from playbooks.models import AttentionSnooze

MAX_SNOOZE_DAYS = 90


@transaction.atomic
def snooze_attention(
    *,
    actor: User,
    account: Account,
    days: int,
    reason_keys: Sequence[str],
    note: str = "",
    now: dt.datetime | None = None,
) -> AttentionSnooze:
    """Hide ``account`` (fetched through the actor's scope) from Today for ``days`` days,
    for the reasons it has now; replaces an earlier snooze. A timeline line says who, until
    when and why."""
    now = now or timezone.now()
    if not 1 <= days <= MAX_SNOOZE_DAYS:
        raise ValidationFailed(
            f"Snooze for 1 to {MAX_SNOOZE_DAYS} days; got {days}.",
            errors=[{"field": "days", "message": f"1 to {MAX_SNOOZE_DAYS} days"}],
        )
    if not reason_keys:
        raise ValidationFailed(
            f"{account.name} needs no attention now, so there is nothing to snooze.",
            errors=[{"field": "account", "message": "nothing to snooze"}],
        )
    today = timezone.localdate(now)
    until = today + dt.timedelta(days=days)
    note = note.strip()[:300]
    snooze, _ = AttentionSnooze.objects.update_or_create(
        account=account,
        defaults={
            "until": until,
            "reason_keys": sorted(set(reason_keys)),
            "note": note,
            "snoozed_by": actor,
            "snoozed_at": now,
        },
    )
    summary = f"Snoozed on Today for {plural(days, 'day')}, until {day_month(until, today=today)}"
    Activity.objects.create(
        account=account,
        kind=Activity.Kind.ATTENTION_SNOOZED,
        actor=actor,
        occurred_at=now,
        summary=(summary + (f": {note}" if note else ""))[:300],
        details={"until": until.isoformat(), "reasons": snooze.reason_keys},
    )
    return snooze


@transaction.atomic
def end_attention_snooze(*, actor: User, account: Account, now: dt.datetime | None = None) -> bool:
    """Bring ``account`` back to Today now. False when it was not snoozed."""
    now = now or timezone.now()
    deleted, _ = AttentionSnooze.objects.filter(account=account).delete()
    if not deleted:
        return False
    Activity.objects.create(
        account=account,
        kind=Activity.Kind.ATTENTION_SNOOZED,
        actor=actor,
        occurred_at=now,
        summary="Snooze on Today ended",
        details={"until": None},
    )
    return True
