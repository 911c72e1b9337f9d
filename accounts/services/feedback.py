"""Feedback rows: a call, note, meeting or email, or an NPS or CSAT answer, with its line on
the account's timeline.

This module only stores what was said. ``scoring.services.feedback.log_feedback`` is the
entry point pages and the API call: it writes the row through here, turns answers into
metric values and tells the playbooks about detractors."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import Account, Activity, Feedback, User
from chs_site.errors import ValidationFailed
from chs_site.parsing import is_in_future

SCORE_RANGES = {Feedback.Kind.NPS: (0, 10), Feedback.Kind.CSAT: (1, 5)}
# Feedback kinds that may carry a survey answer given during the conversation.
SURVEY_KINDS = (Feedback.Kind.CALL, Feedback.Kind.MEETING)


def answer_kind(kind: str, survey: str) -> str:
    """The scale of the score: the kind for an NPS or CSAT answer, the survey for a call
    or meeting that carries one (``Feedback.answer_kind`` of a stored row)."""
    return kind if kind in SCORE_RANGES else survey


def feedback_errors(
    *,
    kind: str,
    score: Any,
    sentiment: str,
    occurred_at: dt.datetime,
    now: dt.datetime,
    survey: str = "",
) -> list[dict[str, str]]:
    errors: list[dict[str, str]] = []
    if kind not in Feedback.Kind.values:
        errors.append(
            {
                "field": "kind",
                "reason": f"unknown kind {kind!r}; use one of {', '.join(Feedback.Kind.values)}",
            }
        )
    if survey and survey not in Feedback.Survey.values:
        errors.append(
            {"field": "survey", "reason": f"use one of {', '.join(Feedback.Survey.values)}"}
        )
    elif survey and kind in Feedback.Kind.values and kind not in SURVEY_KINDS:
        errors.append(
            {"field": "survey", "reason": "only a call or a meeting carries a survey answer"}
        )
    scale = answer_kind(kind, survey)
    if scale in SCORE_RANGES:
        low, high = SCORE_RANGES[Feedback.Kind(scale)]
        if score is None:
            errors.append(
                {
                    "field": "score",
                    "reason": f"an {scale.upper()} answer needs a score ({low}–{high})",
                }
            )
        elif isinstance(score, bool) or not isinstance(score, int) or not low <= score <= high:
            errors.append(
                {
                    "field": "score",
                    "reason": f"{scale.upper()} scores are whole numbers from {low} to {high}; got {score!r}",
                }
            )
    elif score is not None and kind in Feedback.Kind.values and not survey:
        errors.append(
            {
                "field": "score",
                "reason": "only NPS and CSAT answers have a score (a call or meeting names "
                "its survey)",
            }
        )
    if sentiment and sentiment not in Feedback.Sentiment.values:
        errors.append(
            {"field": "sentiment", "reason": f"use one of {', '.join(Feedback.Sentiment.values)}"}
        )
    if timezone.is_naive(occurred_at):
        errors.append({"field": "occurred_at", "reason": "needs a time zone"})
    elif is_in_future(occurred_at, now):
        errors.append({"field": "occurred_at", "reason": "is in the future"})
    return errors


def timeline_summary(feedback: Feedback, author: User | None) -> str:
    """The line a feedback row gets on the account's timeline."""
    who = f" by {author.display_name}" if author else ""
    if feedback.kind in SCORE_RANGES:
        head = f"{feedback.get_kind_display()}: {feedback.score}"
    elif feedback.survey:
        head = (
            f"{feedback.get_kind_display()} logged with {feedback.survey.upper()} {feedback.score}"
        )
    else:
        head = f"{feedback.get_kind_display()} logged"
    text = f" — {feedback.text[:120]}" if feedback.text else ""
    return f"{head}{who}{text}"[:300]


@transaction.atomic
def create_feedback(
    *,
    user: User | None,
    account: Account,
    kind: str,
    score: int | None = None,
    sentiment: str = "",
    text: str = "",
    occurred_at: dt.datetime | None = None,
    survey: str = "",
) -> Feedback:
    """Validate and store feedback on an account (the caller fetched ``account`` through
    the user's scope): the Feedback row and its timeline row, in one transaction. A call
    or meeting may carry an NPS or CSAT answer (``survey`` names its scale)."""
    now = timezone.now()
    occurred_at = occurred_at or now
    errors = feedback_errors(
        kind=kind, score=score, sentiment=sentiment, occurred_at=occurred_at, now=now, survey=survey
    )
    if errors:
        raise ValidationFailed("The feedback is invalid; see details.", errors=errors)
    feedback = Feedback.objects.create(
        account=account,
        author=user,
        kind=kind,
        score=score,
        survey=survey,
        sentiment=sentiment,
        text=text,
        occurred_at=occurred_at,
    )
    Activity.objects.create(
        account=account,
        kind=Activity.Kind.FEEDBACK,
        actor=user,
        occurred_at=occurred_at,
        summary=timeline_summary(feedback, user),
        details={"kind": kind, "score": score, "survey": survey, "sentiment": sentiment},
        feedback=feedback,
    )
    return feedback
