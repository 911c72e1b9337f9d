"""Sending deliveries: claim, sign, POST, record; retries, replays and test sends.

A worker claims a due delivery with one conditional UPDATE (pending and due, or sending
with its lease run out → sending, attempts + 1, a lease) and goes on only if that UPDATE
changed exactly one row: two workers racing for the same row never both send it. The
POST has a timeout well inside the lease, so a delivery is only claimed again while
another worker still holds it if that worker died (killed, machine lost): then the
attempt it was making counts as failed and the next worker sends it again (receivers
deduplicate on ``webhook-id``, as the Standard Webhooks spec asks).

The result is recorded by a second conditional UPDATE that names the attempt, so a worker
that lost its lease cannot overwrite the newer attempt's result. A failure is retried
after ``backoff(attempts)``: 30 s, then ×3 each time, capped at 6 h, ±20 % jitter so
endpoints that failed together do not all come back at the same second; once the next
try would fall more than a day after the delivery was queued, it is failed. A REST hook
answered with 410 Gone is unsubscribed (the REST hooks convention Zapier follows)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
from collections.abc import Callable

import httpx
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import User
from chs_site.celery import nudge_by_name
from chs_site.errors import ApplicationError
from outbound.events import NewEvent, test_event
from outbound.models import EXCERPT_MAX, Delivery, Endpoint, Event
from outbound.signing import signed_headers

log = logging.getLogger(__name__)

SEND_TASK = "outbound.send_deliveries"
RETRY_WINDOW = dt.timedelta(days=1)
FIRST_RETRY = dt.timedelta(seconds=30)
BACKOFF_FACTOR = 3
MAX_RETRY_DELAY = dt.timedelta(hours=6)
JITTER = 0.2
SEND_BATCH = 100

_client: httpx.Client | None = None


def http_client() -> httpx.Client:
    """One pooled client per process: keep-alive connections to endpoints are reused."""
    global _client
    if _client is None:
        _client = httpx.Client(
            timeout=httpx.Timeout(settings.WEBHOOK_TIMEOUT_SECONDS),
            follow_redirects=False,
            headers={"user-agent": "CHS-Webhooks/1"},
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
        )
    return _client


def backoff(attempt: int, *, rand: Callable[[], float] = random.random) -> dt.timedelta:
    """The wait after failed attempt number ``attempt`` (1 = the first)."""
    # The exponent is capped: a delivery replayed many times must not overflow the delay.
    grown = FIRST_RETRY * BACKOFF_FACTOR ** min(max(attempt - 1, 0), 20)
    return min(MAX_RETRY_DELAY, grown) * (1 - JITTER + 2 * JITTER * rand())


def _due(now: dt.datetime) -> Q:
    return Q(status=Delivery.Status.PENDING, next_attempt_at__lte=now) | Q(
        status=Delivery.Status.SENDING, lease_until__lt=now
    )


def due_delivery_ids(*, now: dt.datetime, limit: int = SEND_BATCH) -> list[int]:
    return list(
        Delivery.objects.filter(_due(now), endpoint__enabled=True)
        .order_by("next_attempt_at", "id")
        .values_list("id", flat=True)[:limit]
    )


def claim(*, delivery_id: int, now: dt.datetime) -> Delivery | None:
    """The delivery, now ours to send (attempt counted, lease taken), or None when it is
    not due or another worker won it."""
    # Only the delivery's own columns in the WHERE: PostgreSQL re-checks them on the row a
    # concurrent claim just changed, and skips it. A join (say, to the endpoint) would make
    # Django write ``id IN (SELECT …)``, which is not re-checked, and both workers would win.
    won = Delivery.objects.filter(_due(now), pk=delivery_id).update(
        status=Delivery.Status.SENDING,
        attempts=F("attempts") + 1,
        lease_until=now + dt.timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS),
        last_attempt_at=now,
    )
    if won != 1:
        return None
    return Delivery.objects.select_related("endpoint", "event").get(pk=delivery_id)


def body_of(event: Event) -> str:
    return json.dumps(event.payload, separators=(",", ":"), ensure_ascii=False)


def send(*, delivery: Delivery, now: dt.datetime | None = None) -> Delivery.Status:
    """One attempt for a claimed delivery: POST the signed payload, record the outcome."""
    now = now or timezone.now()
    body = body_of(delivery.event)
    headers = signed_headers(
        secret=delivery.endpoint.secret, msg_id=delivery.event.event_id, body=body, at=now
    )
    code: int | None = None
    excerpt = error = ""
    try:
        response = http_client().post(delivery.endpoint.url, content=body.encode(), headers=headers)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        error = f"{type(exc).__name__}: {exc}"[:300] or type(exc).__name__
        log.info("webhook delivery %s failed: %s", delivery.pk, error)
    else:
        code = response.status_code
        excerpt = response.text[:EXCERPT_MAX]
    return record_attempt(
        delivery=delivery, code=code, excerpt=excerpt, error=error, now=timezone.now()
    )


def record_attempt(
    *,
    delivery: Delivery,
    code: int | None,
    excerpt: str = "",
    error: str = "",
    now: dt.datetime,
    rand: Callable[[], float] = random.random,
) -> Delivery.Status:
    ok = code is not None and 200 <= code < 300
    gone = code == 410 and delivery.endpoint.kind == Endpoint.Kind.REST_HOOK
    fields: dict[str, object] = {
        "last_status_code": code,
        "last_response": excerpt,
        "last_error": error if error or ok else f"HTTP {code}",
        "lease_until": None,
    }
    if ok:
        status = Delivery.Status.SUCCEEDED
        fields["delivered_at"] = now
    else:
        retry_at = now + backoff(delivery.attempts, rand=rand)
        if gone or retry_at > delivery.queued_at + RETRY_WINDOW:
            status = Delivery.Status.FAILED
        else:
            status = Delivery.Status.PENDING
            fields["next_attempt_at"] = retry_at
    with transaction.atomic():
        recorded = Delivery.objects.filter(
            pk=delivery.pk, status=Delivery.Status.SENDING, attempts=delivery.attempts
        ).update(status=status, **fields)
        if gone and recorded:
            Endpoint.objects.filter(pk=delivery.endpoint_id).update(enabled=False)
    if not recorded:
        log.warning("delivery %s: attempt %s ran past its lease", delivery.pk, delivery.attempts)
    return status


def send_due_deliveries(*, limit: int = SEND_BATCH, now: dt.datetime | None = None) -> int:
    """Claim and send what is due, one delivery at a time; returns how many were sent."""
    sent = 0
    for delivery_id in due_delivery_ids(now=now or timezone.now(), limit=limit):
        delivery = claim(delivery_id=delivery_id, now=now or timezone.now())
        if delivery is not None:
            send(delivery=delivery, now=now)
            sent += 1
    return sent


def queue_deliveries(*, events: list[NewEvent], endpoint_ids: dict[str, list[int]]) -> int:
    """Store ``events`` and one delivery per (event, endpoint id in ``endpoint_ids[event
    id]``), inside the caller's transaction; the sender is nudged on commit. Storing an
    event or delivery that exists is a no-op (unique event id, unique (endpoint, event))."""
    events = [e for e in events if endpoint_ids.get(e.event_id)]
    if not events:
        return 0
    Event.objects.bulk_create(
        [
            Event(event_id=e.event_id, type=e.type, payload=e.payload(), created_at=e.created_at)
            for e in events
        ],
        ignore_conflicts=True,
    )
    stored = dict(
        Event.objects.filter(event_id__in=[e.event_id for e in events]).values_list(
            "event_id", "id"
        )
    )
    now = timezone.now()
    rows = [
        Delivery(
            endpoint_id=endpoint_id,
            event_id=stored[e.event_id],
            queued_at=now,
            next_attempt_at=now,
        )
        for e in events
        for endpoint_id in endpoint_ids[e.event_id]
    ]
    Delivery.objects.bulk_create(rows, ignore_conflicts=True)
    transaction.on_commit(lambda: nudge_by_name([SEND_TASK]))
    return len(rows)


@transaction.atomic
def send_test(*, endpoint: Endpoint, now: dt.datetime | None = None) -> int:
    """Queue a ``webhook.test`` event for ``endpoint`` alone."""
    if not endpoint.enabled:
        raise ApplicationError("This endpoint is disabled; enable it to send a test.")
    event = test_event(endpoint_id=endpoint.pk, now=now or timezone.now())
    return queue_deliveries(events=[event], endpoint_ids={event.event_id: [endpoint.pk]})


@transaction.atomic
def replay(*, delivery: Delivery, actor: User, now: dt.datetime | None = None) -> Delivery:
    """Send a delivery again now, with a new day of retries (same event id and payload)."""
    now = now or timezone.now()
    replayed = (
        Delivery.objects.filter(pk=delivery.pk)
        .exclude(status=Delivery.Status.SENDING)
        .update(
            status=Delivery.Status.PENDING, queued_at=now, next_attempt_at=now, lease_until=None
        )
    )
    if not replayed:
        raise ApplicationError("This delivery is being sent right now; wait for the result.")
    log.info("delivery %s replayed by %s", delivery.pk, actor.username)
    transaction.on_commit(lambda: nudge_by_name([SEND_TASK]))
    delivery.refresh_from_db()
    return delivery
