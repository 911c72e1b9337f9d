"""What a recipient does through the links in their email, with no sign-in: open the
survey (recorded once, as "opened"), answer it once, or unsubscribe.

An answer becomes feedback through ``scoring.services.feedback.log_feedback``: a line on
the account's timeline, an ``nps``/``csat`` metric value (the account is marked dirty and
rescored within seconds) and, for a detractor, a score event the playbooks claim. The
recipient row is locked while it is answered, so two submits at once record one answer."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from chs_site.errors import ApplicationError, ValidationFailed
from scoring.services.feedback import log_feedback
from surveys.links import ANSWER_SALT, UNSUBSCRIBE_SALT, read_token
from surveys.models import OptOut, Recipient, SurveyKind
from surveys.selectors import SCALES

COMMENT_MAX = 5000


class LinkInvalid(ApplicationError):
    """The link was not made by this site (changed, cut short) or its survey is gone."""


class AlreadyAnswered(ApplicationError):
    """The link was used: a survey is answered once."""


def _recipient(token: str, *, salt: str, lock: bool = False) -> Recipient:
    recipient_id = read_token(token, salt=salt)
    rows = Recipient.objects.select_related("campaign__survey", "account")
    if lock:
        rows = rows.select_for_update(of=("self",))
    recipient = rows.filter(pk=recipient_id).first() if recipient_id is not None else None
    if recipient is None:
        raise LinkInvalid("This survey link does not work.")
    return recipient


def open_survey(*, token: str, now: dt.datetime | None = None) -> Recipient:
    """The recipient the answer link is for, noting the first open; refused once answered."""
    recipient = _recipient(token, salt=ANSWER_SALT)
    if recipient.answered_at is not None:
        raise AlreadyAnswered("This survey was already answered.")
    if recipient.opened_at is None:
        recipient.opened_at = now or timezone.now()
        Recipient.objects.filter(pk=recipient.pk, opened_at__isnull=True).update(
            opened_at=recipient.opened_at
        )
    return recipient


@transaction.atomic
def answer_survey(
    *, token: str, score: int | None, comment: str = "", now: dt.datetime | None = None
) -> Recipient:
    now = now or timezone.now()
    recipient = _recipient(token, salt=ANSWER_SALT, lock=True)
    if recipient.answered_at is not None:
        raise AlreadyAnswered("This survey was already answered.")
    survey = recipient.campaign.survey
    scale = SCALES[SurveyKind(survey.kind)]
    errors = []
    if score is None or score not in scale:
        errors.append(
            {
                "field": "score",
                "reason": f"choose a score from {scale[0]} to {scale[-1]}",
            }
        )
    comment = comment.strip()
    if len(comment) > COMMENT_MAX:
        errors.append(
            {
                "field": "comment",
                "reason": f"keep the comment under {COMMENT_MAX} characters; it has {len(comment)}",
            }
        )
    if errors:
        raise ValidationFailed("The answer is incomplete; see details.", errors=errors)
    who = recipient.name or recipient.email
    feedback = log_feedback(
        user=None,
        account=recipient.account,
        kind=survey.kind,
        score=score,
        text=f"{who} in survey “{survey.name}”: {comment or '(no comment)'}",
        occurred_at=now,
    )
    recipient.answered_at = now
    recipient.opened_at = recipient.opened_at or now
    recipient.score = score
    recipient.comment = comment
    recipient.feedback = feedback
    recipient.save(update_fields=["answered_at", "opened_at", "score", "comment", "feedback"])
    return recipient


def recipient_for_unsubscribe(*, token: str) -> Recipient:
    return _recipient(token, salt=UNSUBSCRIBE_SALT)


@transaction.atomic
def unsubscribe(*, token: str, now: dt.datetime | None = None) -> Recipient:
    """The recipient's address gets no more surveys: an opt-out row, and whatever is still
    queued for it is skipped. Repeating it changes nothing."""
    recipient = _recipient(token, salt=UNSUBSCRIBE_SALT)
    OptOut.objects.get_or_create(
        email=recipient.email, defaults={"at": now or timezone.now(), "recipient": recipient}
    )
    Recipient.objects.filter(email=recipient.email, status=Recipient.Status.QUEUED).update(
        status=Recipient.Status.SKIPPED
    )
    return recipient
