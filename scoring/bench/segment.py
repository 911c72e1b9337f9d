"""``segment``: Segment batches through the real endpoint (Django's test client: URL routing,
Basic key authentication, throttle, parsing, validation, the dedupe and staging writes),
then the roll-up of everything accepted into daily metric values.

Realistic traffic: batches of 100 messages (what Segment's server libraries send; ``--batch
N`` for larger ones, as the HTTP API and Segment's warehouse replays send), each a
track or page call of ~600 bytes with context and properties, from 20 users per account
over two days, group calls sent first. ``--events N`` sets the size (default 200 000).
Figures: events/s accepted, events/s rolled up, and how many seconds of roll-up one second
of ingest at that rate leaves behind (below 1: the roll-up keeps up with one core of its
own). Runs inside a rolled-back transaction, so nothing is left behind."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
from collections.abc import Iterator
from typing import Any

from django.test import Client
from django.utils import timezone

from accounts.models import Account, Role, User, owner_sort_name
from accounts.services.tokens import create_api_token
from scoring.models import MetricValue, SegmentEvent
from scoring.services.segment_rollup import rollup_segment_events
from scoring.services.segment_settings import update_segment_settings

DEFAULT_EVENTS = 200_000
BATCH = 100
USERS_PER_ACCOUNT = 20
DAYS = 2
EVENTS_PER_ACCOUNT = 200
URL = "/api/v1/integrations/segment/"
NAMES = ("Report Exported", "Dashboard Viewed", "Invite Sent", "Search Performed")


def _message(i: int, total: int, accounts: list[str], start: dt.datetime) -> dict[str, Any]:
    account = accounts[i % len(accounts)]
    user = f"{account}-user-{(i // len(accounts)) % USERS_PER_ACCOUNT}"
    at = start + dt.timedelta(seconds=DAYS * 86_400 * i / total)  # spread over the days
    message: dict[str, Any] = {
        "messageId": f"bench-{i}",
        "userId": user,
        "anonymousId": f"anon-{i % 50_000}",
        "timestamp": at.isoformat(),
        "context": {
            "library": {"name": "analytics-python", "version": "2.3.0"},
            "ip": "203.0.113.7",
            "userAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15",
            "page": {"path": "/reports/", "url": "https://app.example.com/reports/"},
        },
        "integrations": {},
    }
    if i % 5 == 0:
        message.update(type="page", name="Reports", properties={"title": "Reports"})
    else:
        message.update(
            type="track",
            event=NAMES[i % len(NAMES)],
            properties={"format": "csv", "rows": i % 1000, "plan": "enterprise"},
        )
    return message


def bench_segment(options: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Segment batches accepted through the endpoint, then rolled up (events/s each)."""
    total = int(options.get("events") or DEFAULT_EVENTS * options.get("scale", 1.0))
    batch_size = int(options.get("batch") or BATCH)
    n_accounts = max(1, total // EVENTS_PER_ACCOUNT)
    admin = User.objects.create(username="bench-segment", role=Role.ADMIN, is_superuser=True)
    ids = [f"SEG-{i:06d}" for i in range(n_accounts)]
    Account.objects.bulk_create(
        [
            Account(external_id=e, name=e, owner=admin, owner_sort_name=owner_sort_name(admin))
            for e in ids
        ],
        batch_size=2000,
    )
    update_segment_settings(actor=None, enabled=True, tracked_events=list(NAMES[:2]))
    key = create_api_token(user=admin, scope="ingest").key
    headers = {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}
    client = Client()
    today = timezone.now().astimezone(dt.UTC).date()
    start = dt.datetime.combine(today - dt.timedelta(days=DAYS), dt.time(), tzinfo=dt.UTC)

    def post(batch: list[dict[str, Any]]) -> None:
        response = client.post(
            URL,
            json.dumps({"batch": batch, "sentAt": timezone.now().isoformat()}),
            content_type="application/json",
            headers=headers,
        )
        if response.status_code != 200:
            raise RuntimeError(f"{response.status_code}: {response.content[:300]!r}")

    groups = [
        {"type": "group", "userId": f"{e}-user-{u}", "groupId": e, "messageId": f"g-{e}-{u}"}
        for e in ids
        for u in range(USERS_PER_ACCOUNT)
    ]
    for i in range(0, len(groups), batch_size):
        post(groups[i : i + batch_size])
    # The sender's side (building and encoding JSON) is not the server's cost: done first.
    bodies = [
        json.dumps(
            {
                "batch": [
                    _message(i, total, ids, start) for i in range(b, min(b + batch_size, total))
                ],
                "sentAt": timezone.now().isoformat(),
            }
        )
        for b in range(0, total, batch_size)
    ]
    body_bytes = sum(len(b) for b in bodies)
    began = time.perf_counter()
    for body in bodies:
        response = client.post(URL, body, content_type="application/json", headers=headers)
        if response.status_code != 200:
            raise RuntimeError(f"{response.status_code}: {response.content[:300]!r}")
    accept_seconds = time.perf_counter() - began
    staged = SegmentEvent.objects.count()
    began = time.perf_counter()
    result = rollup_segment_events()
    rollup_seconds = time.perf_counter() - began
    accept_rate = total / accept_seconds
    rollup_rate = result.events / rollup_seconds if rollup_seconds else 0.0
    yield {
        "bench": "segment_accept",
        "events": total,
        "batch_size": batch_size,
        "requests": len(bodies),
        "mean_message_bytes": round(body_bytes / total),
        "accounts": n_accounts,
        "seconds": round(accept_seconds, 2),
        "events_per_second": round(accept_rate),
        "target_events_per_second": 20_000,
        "staged": staged,
    }
    yield {
        "bench": "segment_rollup",
        "events": result.events,
        "batches": result.batches,
        "skipped": result.skipped,
        "metric_values_written": result.values,
        "metric_values_stored": MetricValue.objects.filter(account__owner=admin).count(),
        "seconds": round(rollup_seconds, 2),
        "events_per_second": round(rollup_rate),
        # Seconds of roll-up work left by one second of ingest at the accepted rate.
        "lag_seconds_per_ingest_second": round(accept_rate / rollup_rate, 3)
        if rollup_rate
        else None,
    }


BENCHMARKS = [bench_segment]
