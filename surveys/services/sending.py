"""Sending a campaign: the worker claims a batch of queued recipients, emails each one its
own answer and unsubscribe links through Django's configured email backend, and records
what happened on the row (sent, failed with the error, skipped because the address
unsubscribed meanwhile). The last batch marks the campaign sent and writes the audit entry.

A batch is claimed with ``FOR UPDATE SKIP LOCKED`` and written back in the same
transaction, so two workers never send the same rows; a worker killed mid-batch leaves
its rows queued, and the retry sends them (at least once, never silently lost)."""

from __future__ import annotations

import logging
import smtplib

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.services.audit import Action, ObjectType, record_audit
from surveys.links import answer_url, unsubscribe_url
from surveys.models import Campaign, OptOut, Recipient

log = logging.getLogger(__name__)


def survey_email(recipient: Recipient, campaign: Campaign) -> EmailMessage:
    survey = campaign.survey
    unsubscribe = unsubscribe_url(recipient.pk)
    body = render_to_string(
        "surveys/email/survey.txt",
        {
            "recipient": recipient,
            "survey": survey,
            "answer_url": answer_url(recipient.pk),
            "unsubscribe_url": unsubscribe,
        },
    )
    return EmailMessage(
        subject=survey.question[:120],
        body=body,
        to=[recipient.email],
        # RFC 8058 one-click unsubscribe: mail clients show their own button.
        headers={
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )


def send_campaign_batch(*, campaign_id: int, batch_size: int | None = None) -> int:
    """Send one batch of ``campaign_id``'s queued recipients; returns how many of this
    batch were claimed (0: nothing left for this worker)."""
    size = batch_size or settings.SURVEY_BATCH_SIZE
    with transaction.atomic():
        campaign = Campaign.objects.select_related("survey").filter(pk=campaign_id).first()
        if campaign is None:
            return 0
        batch = list(
            Recipient.objects.select_for_update(skip_locked=True)
            .filter(campaign=campaign, status=Recipient.Status.QUEUED)
            .order_by("id")[:size]
        )
        opted_out = set(
            OptOut.objects.filter(email__in=[r.email for r in batch]).values_list(
                "email", flat=True
            )
        )
        now = timezone.now()
        with get_connection() as connection:
            for r in batch:
                if r.email in opted_out:
                    r.status = Recipient.Status.SKIPPED
                    continue
                message = survey_email(r, campaign)
                message.connection = connection
                try:
                    message.send()
                except (smtplib.SMTPException, OSError) as exc:
                    # Recorded on the row and shown on the campaign page; not retried, so
                    # a bad address is not mailed again and again.
                    log.warning("survey email to recipient %s failed: %s", r.pk, exc)
                    r.status = Recipient.Status.FAILED
                    r.error = str(exc)[:300]
                else:
                    r.status = Recipient.Status.SENT
                    r.sent_at = now
        # One UPDATE per outcome: a bulk_update's CASE per row cost more than the emails.
        for status in (Recipient.Status.SENT, Recipient.Status.SKIPPED):
            ids = [r.pk for r in batch if r.status == status]
            if ids:
                sent_at = now if status == Recipient.Status.SENT else None
                Recipient.objects.filter(pk__in=ids).update(status=status, sent_at=sent_at)
        failed = [r for r in batch if r.status == Recipient.Status.FAILED]
        if failed:
            Recipient.objects.bulk_update(failed, ["status", "error"])
        _finish_if_done(campaign)
    return len(batch)


def _finish_if_done(campaign: Campaign) -> None:
    if Recipient.objects.filter(campaign=campaign, status=Recipient.Status.QUEUED).exists():
        return
    # Conditional: of two workers finishing the last batches at once, one writes the entry.
    finished = Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.SENDING).update(
        status=Campaign.Status.SENT, finished_at=timezone.now()
    )
    if not finished:
        return
    counts = {
        status: Recipient.objects.filter(campaign=campaign, status=status).count()
        for status in (Recipient.Status.SENT, Recipient.Status.FAILED, Recipient.Status.SKIPPED)
    }
    record_audit(
        action=Action.FINISHED,
        object_type=ObjectType.SURVEY_CAMPAIGN,
        obj=campaign,
        label=campaign.survey.name,
        changes={f"recipients_{status}": [None, n] for status, n in counts.items()},
    )
