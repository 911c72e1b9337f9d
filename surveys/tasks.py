"""Celery tasks of the surveys app: one-line wrappers around services, safe to run twice
(batches are claimed with SKIP LOCKED; a campaign is finished by a conditional update)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from chs_site.celery import RETRY_TRANSIENT, send_on_commit
from surveys.selectors import sending_campaign_ids
from surveys.services.sending import send_campaign_batch as send_batch


@shared_task(
    bind=True,
    name="surveys.send_campaign_batch",
    ignore_result=True,
    soft_time_limit=300,
    time_limit=330,
    **RETRY_TRANSIENT,
    acks_late=True,
)
def send_campaign_batch(self: Any, campaign_id: int) -> int:
    """One batch; while batches come back full, the next is queued after this one. In
    process (no broker) the batches follow each other in a loop, not by recursion."""
    claimed = send_batch(campaign_id=campaign_id)
    if self.request.is_eager:
        total = claimed
        while claimed:
            claimed = send_batch(campaign_id=campaign_id)
            total += claimed
        return total
    if claimed:
        send_on_commit(send_campaign_batch, campaign_id)
    return claimed


@shared_task(name="surveys.resume_campaigns", ignore_result=True, soft_time_limit=60, time_limit=90)
def resume_campaigns() -> int:
    """Beat: a campaign whose batch message was lost (Redis down, worker killed) goes on."""
    ids = sending_campaign_ids()
    for campaign_id in ids:
        send_campaign_batch.delay(campaign_id)
    return len(ids)
