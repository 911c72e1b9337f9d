"""Celery tasks of outbound: one-line wrappers around services, safe to run twice (claims
and conditional updates make a second run a no-op)."""

from __future__ import annotations

from celery import shared_task

from chs_site.celery import RETRY_TRANSIENT
from outbound.services import delivery, publish


@shared_task(
    name="outbound.publish_events",
    ignore_result=True,
    soft_time_limit=300,
    time_limit=330,
    acks_late=True,
    **RETRY_TRANSIENT,
)
def publish_events() -> int:
    """Both outboxes into deliveries: nudged after each write commits, and on beat every
    20 s as the safety net (a lost message or a killed worker only delays them)."""
    return publish.publish_pending()


@shared_task(
    name="outbound.send_deliveries",
    ignore_result=True,
    # 100 deliveries × a 10 s timeout at worst, with room to record the last one.
    soft_time_limit=1080,
    time_limit=1140,
    acks_late=True,
    **RETRY_TRANSIENT,
)
def send_deliveries() -> int:
    """Send what is due: nudged after deliveries are queued, and on beat every 15 s for
    retries and for deliveries whose worker died (their lease runs out)."""
    return delivery.send_due_deliveries()


@shared_task(name="outbound.prune", ignore_result=True, soft_time_limit=300, time_limit=330)
def prune() -> int:
    return publish.prune_sent_events()
