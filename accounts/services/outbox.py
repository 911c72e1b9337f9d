"""The general outbox (``OutboxEvent``): news from tasks, playbook firings, outcomes and
imports, written in the transaction of the change and claimed by the consumer above.

Why a table of its own rather than reading the rows those changes already write (task
history, runs, outcomes, import jobs) by id: ids are handed out when a row is inserted,
not when its transaction commits, so a reader that remembers "the last id I saw" skips a
row whose transaction commits after a higher one's. A claim with ``FOR UPDATE SKIP
LOCKED`` over unprocessed rows has no such gap, and marking rows processed in the
consumer's own transaction makes each event handled exactly once or not at all. The
score changes keep their own outbox (scoring's ``ScoreEvent``, written by COPY in the
recompute's batches).

Writers call ``record_outbox_events`` inside their transaction; on commit it nudges the
tasks named in ``settings.OUTBOX_CONSUMERS``, each of which also runs on beat as the
safety net. The consumer calls ``claim_outbox_events`` and ``mark_outbox_processed`` in
one transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import OutboxEvent
from chs_site.celery import nudge_by_name

Topic = OutboxEvent.Topic
RETENTION = dt.timedelta(days=7)
CLAIM_BATCH = 500


def record_outbox_events(
    *, topic: str, items: Iterable[tuple[int | None, int]], at: dt.datetime | None = None
) -> int:
    """One event of ``topic`` per ``(account_id or None, object_id)``, inside the caller's
    transaction; the consumers are nudged once it commits. Returns how many."""
    at = at or timezone.now()
    rows = [
        OutboxEvent(topic=topic, account_id=account_id, object_id=object_id, created_at=at)
        for account_id, object_id in items
    ]
    if not rows:
        return 0
    OutboxEvent.objects.bulk_create(rows)
    transaction.on_commit(lambda: nudge_by_name(settings.OUTBOX_CONSUMERS))
    return len(rows)


def claim_outbox_events(*, limit: int = CLAIM_BATCH) -> list[OutboxEvent]:
    """The oldest unprocessed events, locked for the caller's transaction (``SKIP LOCKED``:
    consumers side by side take different events). Mark them processed before commit."""
    return list(
        OutboxEvent.objects.select_for_update(skip_locked=True)
        .filter(processed_at__isnull=True)
        .order_by("id")[:limit]
    )


def mark_outbox_processed(*, ids: Sequence[int], now: dt.datetime | None = None) -> int:
    return OutboxEvent.objects.filter(id__in=list(ids), processed_at__isnull=True).update(
        processed_at=now or timezone.now()
    )


def prune_outbox_events(*, now: dt.datetime | None = None) -> int:
    """Delete events processed more than ``RETENTION`` ago; returns how many."""
    cutoff = (now or timezone.now()) - RETENTION
    deleted, _ = OutboxEvent.objects.filter(processed_at__lt=cutoff).delete()
    return deleted
