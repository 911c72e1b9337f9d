"""The Segment roll-up: staged events → daily metric values per account.

``rollup_segment_events`` claims the oldest staged events (``SKIP LOCKED``: workers side by
side take different rows), deletes them and, in the same transaction, counts them into
daily totals per account and UTC day:

- ``segment_active_users``: distinct users (a ``SegmentDailyUser`` row per user and day, so
  a user counts once however many batches they appear in);
- ``segment_events``: every track, page and screen call;
- ``segment_event_<name>``: the track calls of each event name an admin selected.

The totals are written as metric values observed at the day's midnight (UTC) through
``record_metric_values``, so the accounts are marked dirty and rescored as with any other
value. A worker killed mid-batch rolls the whole transaction back: its events are claimed
again by the next run, none lost and none counted twice. An event whose user is linked to
no account when it is rolled up (or whose day is older than ``DAILY_RETENTION``) is
dropped and counted on the settings page as skipped.

The request that stages events asks for a roll-up on commit (coalesced like the dirty
markers' recompute); beat runs it every minute as the safety net, and prunes message ids
after ``MESSAGE_RETENTION`` and daily rows after ``DAILY_RETENTION``."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.text import slugify

from accounts.models import Account
from scoring.contracts import MetricValueIn
from scoring.models import (
    MetricDefinition,
    SegmentDailyCount,
    SegmentDailyUser,
    SegmentEvent,
    SegmentEventName,
    SegmentMessage,
    SegmentSettings,
    SegmentUser,
)
from scoring.services.dirty import clear_coalesced_flag, schedule_coalesced
from scoring.services.ingest import LOOKUP_CHUNK, chunked
from scoring.services.values import record_metric_values

CLAIM_BATCH = 20_000
MESSAGE_RETENTION = dt.timedelta(days=7)  # a replay older than this counts again
DAILY_RETENTION = dt.timedelta(days=90)  # how late an event may arrive and still count
COALESCE_SECONDS = 1.0
PENDING_FLAG = "segment-rollup-pending"
SOURCE = "segment"

ACTIVE_USERS = "segment_active_users"
EVENTS = "segment_events"
EVENT_PREFIX = "segment_event_"
_KEY_MAX = 64


def event_metric_key(name: str) -> str:
    """The metric key of a selected event's daily count: ``Song Played`` →
    ``segment_event_song_played`` (the settings form refuses names whose keys collide)."""
    slug = slugify(name).replace("-", "_").strip("_") or "unnamed"
    return (EVENT_PREFIX + slug)[:_KEY_MAX]


def _metric_definitions(tracked: Sequence[str]) -> tuple[int, int, dict[str, int]]:
    """The ids of the daily metrics, created on first use (``ON CONFLICT DO NOTHING``:
    two workers may create them at once)."""
    wanted = {
        ACTIVE_USERS: ("Active users per day (Segment)", "users", "Distinct users per day."),
        EVENTS: ("Events per day (Segment)", "events", "Track, page and screen calls per day."),
    }
    for name in tracked:
        wanted[event_metric_key(name)] = (
            f"“{name}” per day (Segment)"[:120],
            "events",
            f"Track calls of the event “{name}” per day.",
        )
    MetricDefinition.objects.bulk_create(
        [MetricDefinition(key=k, name=n, unit=u, description=d) for k, (n, u, d) in wanted.items()],
        ignore_conflicts=True,
    )
    ids = dict(MetricDefinition.objects.filter(key__in=wanted).values_list("key", "pk"))
    return ids[ACTIVE_USERS], ids[EVENTS], {n: ids[event_metric_key(n)] for n in tracked}


@dataclass(frozen=True)
class RollupResult:
    events: int = 0
    skipped: int = 0
    values: int = 0
    batches: int = 0


def rollup_segment_events(
    *, limit: int = CLAIM_BATCH, max_batches: int | None = None
) -> RollupResult:
    """Roll up staged events in batches of ``limit`` until none is left (or
    ``max_batches``); each batch is one transaction."""
    events = skipped = values = batches = 0
    while max_batches is None or batches < max_batches:
        one = rollup_batch(limit=limit)
        if not one.events:
            break
        events, skipped, values = events + one.events, skipped + one.skipped, values + one.values
        batches += 1
    return RollupResult(events=events, skipped=skipped, values=values, batches=batches)


@transaction.atomic
def rollup_batch(*, limit: int = CLAIM_BATCH, now: dt.datetime | None = None) -> RollupResult:
    now = now or timezone.now()
    rows = _claim(limit)
    if not rows:
        return RollupResult()
    config = SegmentSettings.objects.filter(pk=1).first()
    tracked = list(config.tracked_events) if config is not None else []
    users_metric, events_metric, event_metrics = _metric_definitions(tracked)
    links = _links({key for key, _, account, _ in rows if account is None})
    existing = _existing_accounts({a for _, _, a, _ in rows if a is not None} | set(links.values()))
    oldest_day = (now - DAILY_RETENTION).date()
    counts: Counter[tuple[int, dt.date, int]] = Counter()
    active: set[tuple[int, dt.date, str]] = set()
    names: set[str] = set()
    skipped = 0
    for user_key, event, account_id, occurred_at in rows:
        account = account_id if account_id is not None else links.get(user_key)
        day = occurred_at.astimezone(dt.UTC).date()
        if event:
            names.add(event)
        if account is None or account not in existing or day < oldest_day:
            skipped += 1
            continue
        active.add((account, day, user_key))
        counts[(account, day, events_metric)] += 1
        if event in event_metrics:
            counts[(account, day, event_metrics[event])] += 1
    for account, day in _new_daily_users(sorted(active)):
        counts[(account, day, users_metric)] += 1
    totals = _add_counts(counts)
    record_metric_values(
        values=[
            MetricValueIn(account, metric, float(total), _midnight(day))
            for (account, day, metric), total in totals.items()
        ],
        source=SOURCE,
    )
    _seen_event_names(names, now=now)
    SegmentSettings.objects.filter(pk=1).update(
        events_rolled_up=F("events_rolled_up") + len(rows),
        events_skipped=F("events_skipped") + skipped,
        last_rollup_at=now,
    )
    return RollupResult(events=len(rows), skipped=skipped, values=len(totals), batches=1)


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


_SQL_CLAIM = """
DELETE FROM scoring_segmentevent WHERE id IN (
    SELECT id FROM scoring_segmentevent ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED
) RETURNING user_key, event, account_id, occurred_at
"""


def _claim(limit: int) -> list[tuple[str, str, int | None, dt.datetime]]:
    """The oldest staged events, deleted inside the caller's transaction (a failure or a
    killed worker gives them back)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_SQL_CLAIM, [limit])
            return list(cursor.fetchall())
    # SQLite: one writer at a time, so a plain read + delete is safe.
    claimed = list(
        SegmentEvent.objects.order_by("id").values_list(
            "id", "user_key", "event", "account_id", "occurred_at"
        )[:limit]
    )
    SegmentEvent.objects.filter(id__in=[r[0] for r in claimed]).delete()
    return [r[1:] for r in claimed]


def _links(user_keys: set[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for part in chunked(sorted(user_keys), LOOKUP_CHUNK):
        found.update(
            SegmentUser.objects.filter(user_key__in=part).values_list("user_key", "account_id")
        )
    return found


def _existing_accounts(ids: set[int]) -> set[int]:
    """Of ``ids``, the accounts that still exist (one may be deleted after its events were
    staged; their rows carry no foreign key)."""
    found: set[int] = set()
    for part in chunked(sorted(ids), LOOKUP_CHUNK):
        found.update(Account.objects.filter(pk__in=part).values_list("pk", flat=True))
    return found


def _new_daily_users(active: list[tuple[int, dt.date, str]]) -> list[tuple[int, dt.date]]:
    """Insert (account, day, user) rows; returns the (account, day) of each that was new."""
    if not active:
        return []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "INSERT INTO scoring_segmentdailyuser (account_id, day, user_key)"
                " SELECT * FROM unnest(%s::bigint[], %s::date[], %s::text[])"
                " ON CONFLICT DO NOTHING RETURNING account_id, day",
                [[a for a, _, _ in active], [d for _, d, _ in active], [u for _, _, u in active]],
            )
            return list(cursor.fetchall())
        new: list[tuple[int, dt.date]] = []
        for account, day, user_key in active:
            cursor.execute(
                "INSERT INTO scoring_segmentdailyuser (account_id, day, user_key)"
                " VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                [account, day.isoformat(), user_key],
            )
            if cursor.rowcount == 1:
                new.append((account, day))
        return new


_COUNT_TAIL = """
ON CONFLICT (account_id, day, metric_id)
DO UPDATE SET count = scoring_segmentdailycount.count + EXCLUDED.count
RETURNING account_id, day, metric_id, count
"""


def _add_counts(
    counts: Counter[tuple[int, dt.date, int]],
) -> dict[tuple[int, dt.date, int], int]:
    """Add ``counts`` to the running daily totals; returns the new totals. In key order,
    so concurrent roll-ups lock the same rows in the same order (no deadlocks)."""
    items = sorted(counts.items())
    if not items:
        return {}
    totals: dict[tuple[int, dt.date, int], int] = {}
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "INSERT INTO scoring_segmentdailycount (account_id, day, metric_id, count)"
                " SELECT * FROM unnest(%s::bigint[], %s::date[], %s::bigint[], %s::bigint[])"
                + _COUNT_TAIL,
                [
                    [k[0] for k, _ in items],
                    [k[1] for k, _ in items],
                    [k[2] for k, _ in items],
                    [n for _, n in items],
                ],
            )
            for account, day, metric, total in cursor.fetchall():
                totals[(account, day, metric)] = total
            return totals
        for (account, day, metric), n in items:
            cursor.execute(
                "INSERT INTO scoring_segmentdailycount (account_id, day, metric_id, count)"
                " VALUES (%s, %s, %s, %s)" + _COUNT_TAIL,
                [account, day.isoformat(), metric, n],
            )
            _, _, _, total = cursor.fetchone()
            totals[(account, day, metric)] = total
    return totals


def _seen_event_names(names: set[str], *, now: dt.datetime) -> None:
    if not names:
        return
    SegmentEventName.objects.bulk_create(
        [SegmentEventName(name=n, last_seen_at=now) for n in sorted(names)],
        update_conflicts=True,
        unique_fields=["name"],
        update_fields=["last_seen_at"],
    )


# --- scheduling and housekeeping -------------------------------------------------------------


def schedule_rollup() -> bool:
    """On commit of staged events: one roll-up COALESCE_SECONDS later (a burst of requests
    becomes one task); beat's minute sweep serves whatever a lost message leaves."""
    from scoring.tasks import rollup_segment  # the task wraps this module

    return schedule_coalesced(rollup_segment, flag=PENDING_FLAG, delay=COALESCE_SECONDS)


def clear_rollup_flag() -> None:
    clear_coalesced_flag(PENDING_FLAG)


def prune_segment_data(*, now: dt.datetime | None = None) -> tuple[int, int]:
    """Message ids older than MESSAGE_RETENTION, daily rows and event names older than
    DAILY_RETENTION; returns how many message ids and daily rows were deleted."""
    now = now or timezone.now()
    messages, _ = SegmentMessage.objects.filter(received_at__lt=now - MESSAGE_RETENTION).delete()
    oldest_day = (now - DAILY_RETENTION).date()
    users, _ = SegmentDailyUser.objects.filter(day__lt=oldest_day).delete()
    counts, _ = SegmentDailyCount.objects.filter(day__lt=oldest_day).delete()
    # Names no longer sent leave the settings page's list (a selected one stays selected).
    SegmentEventName.objects.filter(last_seen_at__lt=now - DAILY_RETENTION).delete()
    return messages, users + counts
