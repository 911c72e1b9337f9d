"""The dirty markers: which accounts need a recompute, and the coalesced "go look" message.

A ``DirtyAccount`` row is written in the same transaction as the data that changed the
account (PostgreSQL holds the truth); on commit ``schedule_recompute`` asks for one
``recompute_dirty`` task a second later (a Redis ``SET NX`` flag: a burst of ingests in the
same second becomes one task). The recompute claims markers with ``SKIP LOCKED`` inside its
batch's transaction, so a failed batch gives them back; the minute sweep
(``scoring.tasks.sweep_dirty``) serves whatever a lost message left behind."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import redis
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from chs_site.celery import app
from chs_site.sql import id_array
from scoring.models import DirtyAccount

log = logging.getLogger(__name__)


def mark_accounts_dirty(
    *, account_ids: Iterable[int], reason: str, due_at: datetime | None = None
) -> None:
    """Durably mark accounts for recompute and ask (on commit) for a coalesced recompute.

    A marker is due at ``marked_at``: now, unless ``due_at`` says later (a lease: the
    nightly chunks mark their accounts due in NIGHTLY_LEASE_SECONDS; a chunk that finishes
    deletes them; a chunk lost with its worker leaves them for the sweep). An account
    already dirty keeps the earlier of its two times (the sweep serves oldest first), so a
    new value during the nightly makes its account due at once."""
    ids = sorted(set(account_ids))  # one lock order for every writer: no deadlocks
    if not ids:
        return
    due = due_at or timezone.now()
    with transaction.atomic():
        _upsert_markers(ids, due=due, reason=reason[:32])
        if due_at is None:
            transaction.on_commit(schedule_recompute)


def mark_all_accounts_due_later(*, due_at: datetime, reason: str) -> int:
    """Every account without a marker gets one due at ``due_at`` (the nightly lease), in one
    statement; returns how many were marked."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO scoring_dirtyaccount (account_id, marked_at, reason)"
            " SELECT id, %s, %s FROM accounts_account WHERE true ORDER BY id"
            " ON CONFLICT (account_id) DO NOTHING",
            [connection.ops.adapt_datetimefield_value(due_at), reason[:32]],
        )
        return max(cursor.rowcount, 0)


_UPSERT_TAIL = """
ON CONFLICT (account_id) DO UPDATE SET marked_at = EXCLUDED.marked_at, reason = EXCLUDED.reason
WHERE scoring_dirtyaccount.marked_at > EXCLUDED.marked_at
"""


def _upsert_markers(ids: Sequence[int], *, due: datetime, reason: str) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "INSERT INTO scoring_dirtyaccount (account_id, marked_at, reason)"
                " SELECT unnest(%s::bigint[]), %s, %s" + _UPSERT_TAIL,
                [id_array(ids), due, reason],
            )
            return
        at = connection.ops.adapt_datetimefield_value(due)
        cursor.executemany(
            "INSERT INTO scoring_dirtyaccount (account_id, marked_at, reason) VALUES (%s, %s, %s)"
            + _UPSERT_TAIL,
            [(i, at, reason) for i in ids],
        )


# --- coalescing --------------------------------------------------------------------------

COALESCE_SECONDS = 1.0


def _flag_key(name: str) -> str:
    # Per queue: the processes that share a queue (web, workers) share the flag.
    return f"chs:{app.conf.task_default_queue}:scoring:{name}"


def _redis() -> redis.Redis | None:
    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://")):
        return None
    return redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)


def schedule_recompute() -> bool:
    """Ask for one ``recompute_dirty`` task COALESCE_SECONDS from now, unless one is already
    pending. Returns True if a task was sent.

    The pending flag (Redis ``SET NX``) is cleared by the task *before* it claims dirty rows,
    so a value committed after the claim always schedules a new task: coalescing never
    loses work. The dirty table is the truth; if Redis is down, the minute sweep catches up."""
    from scoring.tasks import recompute_dirty  # the task wraps this app's services

    return schedule_coalesced(recompute_dirty, flag="recompute-pending", delay=COALESCE_SECONDS)


def clear_pending_flag() -> None:
    clear_coalesced_flag("recompute-pending")


def schedule_coalesced(task: Any, *, flag: str, delay: float) -> bool:
    """Send ``task`` ``delay`` seconds from now unless Redis flag ``flag`` says one is
    pending (the task clears it with ``clear_coalesced_flag`` before it claims its rows).
    Without a broker the task runs here and now. A broker that is down is logged and left
    to the task's beat sweep: the rows in PostgreSQL are the truth."""
    if app.conf.task_always_eager:
        task.apply()
        return True
    try:
        client = _redis()
        if client is not None and not client.set(
            _flag_key(flag), "1", nx=True, px=int(delay * 1000) + 30_000
        ):
            return False
        task.apply_async(countdown=delay, retry=False)
    except (redis.RedisError, BrokerError, OSError):
        log.warning("could not schedule %s; its sweep will do it", task.name, exc_info=True)
        return False
    return True


def clear_coalesced_flag(flag: str) -> None:
    try:
        client = _redis()
        if client is not None:
            client.delete(_flag_key(flag))
    except (redis.RedisError, OSError):
        # The flag expires by itself; until then new work waits for the sweep.
        log.warning("could not clear the %s flag", flag, exc_info=True)


_SQL_CLAIM = """
DELETE FROM scoring_dirtyaccount WHERE account_id IN (
    SELECT account_id FROM scoring_dirtyaccount WHERE marked_at <= %s
    ORDER BY marked_at, account_id LIMIT %s FOR UPDATE SKIP LOCKED
) RETURNING account_id
"""


def claim_dirty(limit: int) -> list[int]:
    """Up to ``limit`` accounts whose markers are due, oldest first, their markers deleted
    (inside the caller's transaction: a failure gives them back)."""
    now = timezone.now()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_SQL_CLAIM, [now, limit])
            return sorted(r[0] for r in cursor.fetchall())
    # SQLite: one writer at a time (IMMEDIATE transactions), so a plain read + delete is safe.
    ids = list(
        DirtyAccount.objects.filter(marked_at__lte=now)
        .order_by("marked_at", "account_id")
        .values_list("account_id", flat=True)[:limit]
    )
    DirtyAccount.objects.filter(account_id__in=ids).delete()
    return sorted(ids)


def delete_dirty_markers(ids: Sequence[int]) -> None:
    if connection.vendor == "postgresql":  # one array parameter, not one per id
        with connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM scoring_dirtyaccount WHERE account_id = ANY(%s::bigint[])",
                [id_array(ids)],
            )
        return
    DirtyAccount.objects.filter(account_id__in=ids).delete()
