"""Campaigns: choose the recipients (the contacts ``selectors.audience`` finds, so nobody
unsubscribed or surveyed within the throttle), queue them as rows in one transaction with
an audit entry, and ask the worker to send them in batches once that commits."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django.db import connection, transaction
from django.utils import timezone

from accounts.models import HealthBand, LifecycleStage, User
from accounts.services.audit import Action, ObjectType, record_audit
from chs_site.celery import send_on_commit
from chs_site.errors import ValidationFailed
from surveys.models import Campaign, Recipient, Survey
from surveys.selectors import Audience, AudienceFilters, audience

# Any fixed number: the key of the transaction-level advisory lock below.
QUEUEING_LOCK = 0x5E_57_0001


def _lock_queueing() -> None:
    """Queue one campaign at a time: of two started at once (an admin's and a playbook's),
    the second reads the throttle after the first commits, so nobody is queued twice. The
    lock ends with the transaction. SQLite is the single-process development setup: no race."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [QUEUEING_LOCK])


def filter_errors(filters: AudienceFilters) -> list[dict[str, str]]:
    errors = []
    bad_bands = [b for b in filters.bands if b not in HealthBand.values]
    if bad_bands:
        errors.append(
            {
                "field": "bands",
                "reason": f"unknown band(s) {', '.join(bad_bands)}; use {', '.join(HealthBand.values)}",
            }
        )
    bad_stages = [s for s in filters.lifecycle_stages if s not in LifecycleStage.values]
    if bad_stages:
        errors.append(
            {
                "field": "lifecycle_stages",
                "reason": f"unknown stage(s) {', '.join(bad_stages)}; "
                f"use {', '.join(LifecycleStage.values)}",
            }
        )
    days = filters.renewal_within_days
    if days is not None and not 0 <= days <= 3650:
        errors.append(
            {"field": "renewal_within_days", "reason": f"give 0 to 3650 days; got {days}"}
        )
    return errors


def _queue(
    *,
    survey: Survey,
    filters: AudienceFilters,
    found: Audience,
    actor: User | None,
    now: dt.datetime,
    source: str,
    source_label: str = "",
) -> Campaign:
    campaign = Campaign.objects.create(
        survey=survey,
        source=source,
        source_label=source_label[:200],
        segments=filters.segments,
        bands=filters.bands,
        lifecycle_stages=filters.lifecycle_stages,
        renewal_within_days=filters.renewal_within_days,
        contact_title=filters.contact_title,
        primary_only=filters.primary_only,
        created_by=actor,
        created_at=now,
    )
    Recipient.objects.bulk_create(
        [
            Recipient(
                campaign=campaign,
                account_id=m.account_id,
                contact_id=m.contact_id,
                email=m.email,
                name=m.name[:200],
                queued_at=now,
            )
            for m in found.members
        ]
    )
    record_audit(
        action=Action.STARTED,
        object_type=ObjectType.SURVEY_CAMPAIGN,
        obj=campaign,
        label=f"{survey.name} ({len(found.members)} recipients)",
        changes={
            "survey": [None, survey.name],
            "source": [None, source_label or source],
            "filters": [None, campaign.filters_summary()],
            "recipients": [None, len(found.members)],
            "left_out_unsubscribed": [None, found.opted_out],
            "left_out_recently_surveyed": [None, found.throttled],
        },
        actor=actor,
    )
    from surveys.tasks import send_campaign_batch

    send_on_commit(send_campaign_batch, campaign.pk)
    return campaign


@transaction.atomic
def start_campaign(
    *, actor: User, survey: Survey, filters: AudienceFilters, now: dt.datetime | None = None
) -> Campaign:
    """Queue ``survey`` for every contact the filters match now; the worker sends it."""
    now = now or timezone.now()
    errors = filter_errors(filters)
    if errors:
        raise ValidationFailed("The recipient filters are invalid; see details.", errors=errors)
    _lock_queueing()
    found = audience(filters, now=now)
    if not found.members:
        raise ValidationFailed(
            "No contact would get this survey; widen the filters.",
            errors=[
                {
                    "field": "__all__",
                    "reason": f"no contact with an email matches ({found.opted_out} unsubscribed, "
                    f"{found.throttled} surveyed recently)",
                }
            ],
        )
    return _queue(
        survey=survey,
        filters=filters,
        found=found,
        actor=actor,
        now=now,
        source=Campaign.Source.MANUAL,
    )


@transaction.atomic
def send_survey_to_accounts(
    *, survey: Survey, account_ids: Sequence[int], reason: str, now: dt.datetime | None = None
) -> Campaign | None:
    """A playbook's action: survey the contacts of these accounts (the same opt-out and
    throttle rules as any campaign). None when nobody may be surveyed."""
    now = now or timezone.now()
    _lock_queueing()
    found = audience(AudienceFilters(), now=now, account_ids=list(account_ids))
    if not found.members:
        return None
    return _queue(
        survey=survey,
        filters=AudienceFilters(),
        found=found,
        actor=None,
        now=now,
        source=Campaign.Source.PLAYBOOK,
        source_label=reason,
    )
