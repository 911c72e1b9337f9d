"""Celery tasks: one-line wrappers around services. They take ids or plain data, may run
twice (the database dedupes), and retry only transient errors."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from celery import shared_task

from chs_site.celery import RETRY_TRANSIENT
from playbooks import services


@dataclass(frozen=True)
class _Change:
    """A score change rebuilt from JSON (the shape of ``scoring.services.ScoreChange``)."""

    account_id: int
    score_id: int | None
    previous_score: float | None
    previous_band: str
    score: float | None
    band: str
    computed_at: dt.datetime


def change_to_json(change: Any) -> dict[str, Any]:
    return {
        "account_id": change.account_id,
        "score_id": getattr(change, "score_id", None),
        "previous_score": change.previous_score,
        "previous_band": change.previous_band,
        "score": change.score,
        "band": change.band,
        "computed_at": change.computed_at.isoformat(),
    }


def change_from_json(data: dict[str, Any]) -> _Change:
    return _Change(**{**data, "computed_at": dt.datetime.fromisoformat(data["computed_at"])})


@shared_task(
    name="playbooks.evaluate_score_changes",
    soft_time_limit=120,
    time_limit=150,
    **RETRY_TRANSIENT,
    acks_late=True,
)
def evaluate_score_changes_task(changes: list[dict[str, Any]]) -> int:
    return services.evaluate_score_changes(changes=[change_from_json(c) for c in changes])


@shared_task(
    name="playbooks.evaluate_time_triggers",
    soft_time_limit=600,
    time_limit=660,
    **RETRY_TRANSIENT,
    acks_late=True,
)
def evaluate_time_triggers() -> int:
    return services.evaluate_time_triggers()


@shared_task(
    name="playbooks.evaluate_feedback",
    soft_time_limit=60,
    time_limit=90,
    **RETRY_TRANSIENT,
    acks_late=True,
)
def evaluate_feedback(feedback_ids: list[int]) -> int:
    return services.evaluate_feedback(feedback_ids=feedback_ids)


@shared_task(
    name="playbooks.reopen_snoozed_tasks",
    soft_time_limit=120,
    time_limit=150,
    **RETRY_TRANSIENT,
    acks_late=True,
)
def reopen_snoozed_tasks() -> int:
    return services.reopen_snoozed_tasks()


@shared_task(
    bind=True,
    name="playbooks.deliver_notification",
    soft_time_limit=30,
    time_limit=45,
    acks_late=True,
)
def deliver_notification(self: Any, notification_id: int) -> None:
    try:
        services.deliver_notification(notification_id=notification_id)
    except services.DeliveryFailed as exc:
        if self.request.is_eager:
            return  # recorded on the row; retry_failed_notifications picks it up
        # Backoff 30 s, 60 s, … capped at 30 min; the row keeps the error meanwhile.
        raise self.retry(
            exc=exc, countdown=min(1800, 30 * 2**self.request.retries), max_retries=6
        ) from exc


@shared_task(name="playbooks.retry_failed_notifications", soft_time_limit=300, time_limit=330)
def retry_failed_notifications() -> int:
    return services.retry_failed_notifications()


@shared_task(name="playbooks.send_digests", soft_time_limit=600, time_limit=660)
def send_digests() -> int:
    return services.send_digests()
