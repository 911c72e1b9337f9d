"""Feedback that becomes metrics: the entry point for logging feedback (pages, API).

The feedback row and its timeline line belong to accounts
(``accounts.services.feedback.create_feedback``); here an NPS or CSAT answer becomes an
``nps`` or ``csat`` metric value and a sentiment a ``sentiment`` value, so the score reacts
within seconds, and a detractor (``Feedback.is_detractor``) becomes a score event, so the
negative-feedback playbooks react as fast."""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from accounts.models import Account, Feedback, User
from accounts.services.feedback import create_feedback
from scoring.contracts import MetricValueIn
from scoring.models import MetricDefinition
from scoring.services.events import record_feedback_event
from scoring.services.values import record_metric_values

SENTIMENT_METRIC = "sentiment"
# A logged sentiment as a metric value on the 0–100 scale.
SENTIMENT_POINTS = {
    Feedback.Sentiment.POSITIVE: 100.0,
    Feedback.Sentiment.NEUTRAL: 50.0,
    Feedback.Sentiment.NEGATIVE: 0.0,
}
# Metric definitions that feedback feeds; created on first use.
FEEDBACK_METRICS = {
    "nps": {"name": "NPS", "unit": "0–10", "description": "Net Promoter Score answers (0–10)."},
    "csat": {"name": "CSAT", "unit": "1–5", "description": "Customer satisfaction answers (1–5)."},
    SENTIMENT_METRIC: {
        "name": "Sentiment",
        "unit": "0–100",
        "description": "Sentiment of logged feedback: positive 100, neutral 50, negative 0.",
    },
}


@transaction.atomic
def log_feedback(
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
    """Record feedback on an account (fetched by the caller through the user's scope): the
    row and timeline line, the metric values it carries (an NPS or CSAT answer, on its own
    or given in a call or meeting), and for a detractor a score event, all in one
    transaction."""
    feedback = create_feedback(
        user=user,
        account=account,
        kind=kind,
        score=score,
        sentiment=sentiment,
        text=text,
        occurred_at=occurred_at,
        survey=survey,
    )
    readings: dict[str, float] = {}
    if feedback.answer_kind and score is not None:
        readings[feedback.answer_kind] = float(score)
    if sentiment:
        readings[SENTIMENT_METRIC] = SENTIMENT_POINTS[Feedback.Sentiment(sentiment)]
    values = []
    for key, value in readings.items():
        metric, _ = MetricDefinition.objects.get_or_create(key=key, defaults=FEEDBACK_METRICS[key])
        values.append(
            MetricValueIn(
                account_id=account.pk,
                metric_id=metric.pk,
                value=value,
                observed_at=feedback.occurred_at,
            )
        )
    record_metric_values(values=values, source="feedback")
    if feedback.is_detractor:
        record_feedback_event(
            account_id=account.pk, feedback_id=feedback.pk, at=feedback.occurred_at
        )
    return feedback
