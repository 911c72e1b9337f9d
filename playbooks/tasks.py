"""Celery tasks of the playbooks app: one-line wrappers around services. They take ids,
may run twice (claims, partial unique indexes and conditional updates make a second run
harmless) and retry only transient errors."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from chs_site.celery import RETRY_TRANSIENT
from playbooks.services import firing, notifications, slack, tasks

# 200 batches of 500 events: a first night's 100 000 changes in one run, well inside the
# time limit when no playbook reacts (about 2 s measured); more waits for the next run.
MAX_EVENT_BATCHES_PER_RUN = 200


@shared_task(
    name="playbooks.process_score_events",
    ignore_result=True,
    soft_time_limit=300,
    time_limit=330,
    **RETRY_TRANSIENT,
    acks_late=True,
)
def process_score_events() -> int:
    """Score changes and detractor feedback from scoring's outbox: nudged by name after
    each recompute batch and each detractor feedback commits, and run by beat every 20 s
    as the safety net (a lost message or a killed worker only delays the events). Under a
    steady stream it stops after a bounded run; the next nudge or sweep goes on."""
    return firing.process_score_events(max_batches=MAX_EVENT_BATCHES_PER_RUN)


@shared_task(
    name="playbooks.evaluate_time_triggers",
    soft_time_limit=600,
    time_limit=660,
    **RETRY_TRANSIENT,
    acks_late=True,
)
def evaluate_time_triggers() -> int:
    return firing.evaluate_time_triggers()


@shared_task(
    name="playbooks.reopen_snoozed_tasks",
    soft_time_limit=120,
    time_limit=150,
    **RETRY_TRANSIENT,
    acks_late=True,
)
def reopen_snoozed_tasks() -> int:
    return tasks.reopen_snoozed_tasks()


def _retry_delivery(task: Any, exc: Exception) -> None:
    """A failed send (notification or channel post) is recorded on its row; under a worker
    it is retried with backoff 30 s, 60 s, … capped at 30 min, six times, and then left to
    the ten-minute sweep of failed rows, which is also what serves it when run eagerly."""
    if task.request.is_eager:
        return
    raise task.retry(
        exc=exc, countdown=min(1800, 30 * 2**task.request.retries), max_retries=6
    ) from exc


@shared_task(
    bind=True,
    name="playbooks.deliver_notification",
    soft_time_limit=30,
    time_limit=45,
    acks_late=True,
)
def deliver_notification(self: Any, notification_id: int) -> None:
    try:
        notifications.deliver_notification(notification_id=notification_id)
    except notifications.DeliveryFailed as exc:
        _retry_delivery(self, exc)


@shared_task(name="playbooks.retry_failed_notifications", soft_time_limit=300, time_limit=330)
def retry_failed_notifications() -> int:
    return notifications.retry_failed_notifications()


@shared_task(name="playbooks.send_digests", soft_time_limit=600, time_limit=660)
def send_digests() -> int:
    return notifications.send_digests()


@shared_task(
    bind=True,
    name="playbooks.deliver_channel_post",
    soft_time_limit=30,
    time_limit=45,
    acks_late=True,
)
def deliver_channel_post(self: Any, post_id: int) -> None:
    try:
        slack.deliver_channel_post(post_id=post_id)
    except slack.SlackFailed as exc:
        _retry_delivery(self, exc)


@shared_task(name="playbooks.retry_failed_channel_posts", soft_time_limit=300, time_limit=330)
def retry_failed_channel_posts() -> int:
    return slack.retry_failed_channel_posts()


@shared_task(name="playbooks.post_renewal_risks", soft_time_limit=300, time_limit=330)
def post_renewal_risks() -> int:
    return len(slack.post_renewal_risks())


@shared_task(name="playbooks.send_slack_digests", soft_time_limit=600, time_limit=660)
def send_slack_digests() -> int:
    return slack.send_slack_digests()
