"""Overrides: a person's judgement shown instead of the computed score until it expires.

The computed score keeps being computed and stored; ``effective_health`` decides what the
account shows (``health_*``) beside it (``computed_*``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import Account, Activity, HealthBand, User
from accounts.selectors.access import visible_accounts
from accounts.services.audit import Action, ObjectType, record_audit
from chs_site.errors import ApplicationError, PermissionDenied, ValidationFailed
from chs_site.sql import id_array
from scoring import engine
from scoring.models import ScoreOverride
from scoring.selectors.scorecards import active_scorecard_specs, spec_for_segment
from scoring.services.dirty import mark_accounts_dirty


def active_overrides(*, account_ids: Sequence[int], at: datetime) -> dict[int, ScoreOverride]:
    """The newest active (not revoked, not expired) override per account, one query."""
    found: dict[int, ScoreOverride] = {}
    qs = ScoreOverride.objects.filter(revoked_at__isnull=True, expires_at__gt=at)
    if connection.vendor == "postgresql":  # one array parameter, not one per id
        qs = qs.extra(
            where=["scoring_scoreoverride.account_id = ANY(%s::bigint[])"],
            params=[id_array(account_ids)],
        )
    else:
        qs = qs.filter(account_id__in=account_ids)
    for o in qs.order_by("account_id", "-created_at", "-id"):
        found.setdefault(o.account_id, o)
    return found


def effective_health(
    score: float | None,
    band: str,
    override: ScoreOverride | None,
    spec: engine.ScorecardSpec | None,
) -> tuple[float | None, str]:
    """What people see: the override while active, else the computed value. A score
    override also sets the band the scorecard gives that score."""
    if override is None:
        return score, band
    if override.score is not None:
        # Without a scorecard, the thresholds a new one would get.
        thresholds = spec or engine.ScorecardSpec(measures=())
        return override.score, engine.band_for(
            override.score, red_below=thresholds.red_below, green_at=thresholds.green_at
        )
    return score, override.band


def override_score(
    *,
    account: Account,
    author: User | None,
    score: float | None = None,
    band: str | None = None,
    reason: str,
    expires_at: datetime,
) -> ScoreOverride:
    """Show ``score`` or ``band`` (exactly one) instead of the computed value until
    ``expires_at``. The computed score keeps being computed; ``revoke_override`` or the
    expiry (at the next recompute or sweep) ends it. A person may override the accounts they
    can see (CSM: own book, manager: team, admin: all); views 404 before getting here."""
    if author is not None and not visible_accounts(author).filter(pk=account.pk).exists():
        raise PermissionDenied("You can override the score only of accounts in your book or team.")
    errors: list[dict[str, str]] = []
    reason = (reason or "").strip()
    band = (band or "").strip()
    if not reason:
        errors.append({"field": "reason", "message": "Say why you override the score."})
    if (score is None) == (not band):
        errors.append(
            {"field": "score", "message": "Give either a score (0–100) or a band, not both."}
        )
    if score is not None and not (isinstance(score, int | float) and 0 <= score <= 100):
        errors.append({"field": "score", "message": "The score must be a number from 0 to 100."})
    if band and band not in HealthBand.values:
        errors.append(
            {"field": "band", "message": f"The band must be one of {', '.join(HealthBand.values)}."}
        )
    if expires_at is None or timezone.is_naive(expires_at):
        errors.append({"field": "expires_at", "message": "Give an expiry date with a time zone."})
    elif expires_at <= timezone.now():
        errors.append({"field": "expires_at", "message": "The expiry must be in the future."})
    if errors:
        raise ValidationFailed(
            "The override was not saved: " + " ".join(e["message"] for e in errors), errors=errors
        )
    with transaction.atomic():
        locked = Account.objects.select_for_update().get(pk=account.pk)
        override = ScoreOverride.objects.create(
            account=locked,
            author=author,
            score=None if score is None else float(score),
            band=band,
            reason=reason,
            expires_at=expires_at,
        )
        spec = spec_for_segment(active_scorecard_specs(), locked.segment)
        locked.health_score, locked.health_band = effective_health(
            locked.computed_score, locked.computed_band, override, spec
        )
        locked.save(update_fields=["health_score", "health_band"])
        shown = f"score {override.score:.0f}" if override.score is not None else f"band {band}"
        Activity.objects.create(
            account=locked,
            kind=Activity.Kind.OVERRIDE,
            actor=author,
            occurred_at=timezone.now(),
            summary=f"Health overridden to {shown} until {expires_at:%Y-%m-%d}: {reason}"[:300],
            details={"override_id": override.pk, "score": override.score, "band": band},
        )
        record_audit(
            action=Action.CREATED,
            object_type=ObjectType.OVERRIDE,
            obj=override,
            label=f"{locked.name} ({locked.external_id})",
            actor=author,
            changes={
                "score": [locked.computed_score, override.score],
                "band": [locked.computed_band, band or None],
                "reason": [None, reason],
                "expires_at": [None, expires_at],
            },
        )
    account.health_score, account.health_band = locked.health_score, locked.health_band
    return override


def revoke_override(*, override: ScoreOverride, author: User | None) -> ScoreOverride:
    """End an override now; the account shows its computed score again at once."""
    with transaction.atomic():
        locked = Account.objects.select_for_update().get(pk=override.account_id)
        override = ScoreOverride.objects.select_for_update().get(pk=override.pk)
        if override.revoked_at is not None:
            raise ApplicationError("This override was already revoked.")
        now = timezone.now()
        override.revoked_at = now
        override.save(update_fields=["revoked_at"])
        spec = spec_for_segment(active_scorecard_specs(), locked.segment)
        still = active_overrides(account_ids=[locked.pk], at=now).get(locked.pk)
        locked.health_score, locked.health_band = effective_health(
            locked.computed_score, locked.computed_band, still, spec
        )
        locked.save(update_fields=["health_score", "health_band"])
        Activity.objects.create(
            account=locked,
            kind=Activity.Kind.OVERRIDE,
            actor=author,
            occurred_at=now,
            summary="Health override revoked; the computed score applies again.",
            details={"override_id": override.pk, "revoked": True},
        )
        record_audit(
            action=Action.REVOKED,
            object_type=ObjectType.OVERRIDE,
            obj=override,
            label=f"{locked.name} ({locked.external_id})",
            actor=author,
            changes={"revoked_at": [None, now]},
        )
    return override


# The account still shows something other than its computed value (NULL-safe comparison).
_health_differs_from_computed = (
    ~Q(account__health_band=F("account__computed_band"))
    | Q(account__health_score__isnull=True, account__computed_score__isnull=False)
    | Q(account__health_score__isnull=False, account__computed_score__isnull=True)
    | (
        Q(account__health_score__isnull=False, account__computed_score__isnull=False)
        & ~Q(account__health_score=F("account__computed_score"))
    )
)


def expire_overrides() -> int:
    """Accounts whose override ran out show their computed value again (the minute sweep
    calls this). Returns the number of accounts corrected."""
    now = timezone.now()
    stale_ids = list(
        ScoreOverride.objects.filter(revoked_at__isnull=True, expires_at__lte=now)
        .exclude(
            account__in=ScoreOverride.objects.filter(
                revoked_at__isnull=True, expires_at__gt=now
            ).values("account")
        )
        .filter(_health_differs_from_computed)
        .values_list("account_id", flat=True)
        .distinct()
    )
    if stale_ids:
        mark_accounts_dirty(account_ids=stale_ids, reason="override expired")
    return len(stale_ids)
