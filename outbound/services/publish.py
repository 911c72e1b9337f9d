"""Turning outbox rows into events and deliveries.

One batch is one transaction: claim score events (scoring's outbox, consumer
``webhooks``) and general events (accounts' outbox), build their payloads, store one
``Event`` per payload and one ``Delivery`` per endpoint that subscribes to its type and
whose owner may see its account, and mark the outbox rows processed. A worker killed
half-way rolls all of it back and the rows are claimed again; a second run finds them
processed. Nothing is sent here: the sender is nudged once the batch commits."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.selectors.access import visible_accounts
from accounts.services.outbox import (
    claim_outbox_events,
    mark_outbox_processed,
    prune_outbox_events,
)
from outbound.events import NewEvent, from_outbox, from_score_changes
from outbound.models import Delivery, Endpoint, Event
from outbound.services.delivery import queue_deliveries
from scoring.services.events import claim_score_events, mark_processed

CONSUMER = "webhooks"
BATCH = 500
# What was sent stays visible (page, API, samples) this long, then goes.
EVENT_RETENTION = dt.timedelta(days=30)


def subscribers(events: list[NewEvent]) -> dict[str, list[int]]:
    """For each event id, the enabled endpoints that want it and may see it: an admin's
    endpoint every event, anyone else's only events about accounts in their scope (never
    an account-less event such as an import)."""
    endpoints = list(Endpoint.objects.filter(enabled=True).select_related("owner"))
    wanted = [e for e in events if any(e.type in ep.event_types for ep in endpoints)]
    if not wanted:
        return {}
    account_ids = {e.account_id for e in wanted if e.account_id is not None}
    seen: dict[int, set[int]] = {}
    owners: dict[int, User] = {ep.owner_id: ep.owner for ep in endpoints}
    for owner_id, owner in owners.items():
        if owner.is_active and not owner.is_admin:
            seen[owner_id] = set(
                visible_accounts(owner).filter(pk__in=account_ids).values_list("pk", flat=True)
            )
    out: dict[str, list[int]] = defaultdict(list)
    for event in wanted:
        for ep in endpoints:
            if event.type not in ep.event_types or not ep.owner.is_active:
                continue
            if ep.owner.is_admin or (
                event.account_id is not None and event.account_id in seen[ep.owner_id]
            ):
                out[event.event_id].append(ep.pk)
    return out


def publish_batch(*, limit: int = BATCH) -> int:
    """One batch of both outboxes; returns how many outbox rows it processed."""
    with transaction.atomic():
        claimed = claim_score_events(CONSUMER, limit=limit)
        rows = claim_outbox_events(limit=limit)
        events = from_score_changes(list(claimed.changes)) + from_outbox(rows)
        queue_deliveries(events=events, endpoint_ids=subscribers(events))
        if claimed:
            mark_processed(CONSUMER, ids=claimed.ids)
        if rows:
            mark_outbox_processed(ids=[r.pk for r in rows])
    return len(claimed.ids) + len(rows)


def publish_pending(*, max_batches: int = 100) -> int:
    """Batches until both outboxes are drained (or ``max_batches``: the next run goes on)."""
    total = 0
    for _ in range(max_batches):
        done = publish_batch()
        total += done
        if done == 0:
            break
    return total


def prune_sent_events(*, now: dt.datetime | None = None) -> int:
    """Drop events older than ``EVENT_RETENTION`` that nothing still waits to send (with
    their deliveries), and processed outbox rows; returns how many events went."""
    now = now or timezone.now()
    prune_outbox_events(now=now)
    busy = Delivery.objects.filter(
        status__in=[Delivery.Status.PENDING, Delivery.Status.SENDING]
    ).values("event_id")
    deleted, by_model = (
        Event.objects.filter(created_at__lt=now - EVENT_RETENTION).exclude(pk__in=busy).delete()
    )
    return by_model.get("outbound.Event", 0)
