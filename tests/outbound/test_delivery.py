"""Sending: signatures, retries with backoff, the conditional claim and leases, replays."""

from __future__ import annotations

import datetime as dt
import json
import threading

import pytest
from django.db import connection
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from accounts.models import Account, User
from chs_site.secrets import encrypt
from outbound.events import NewEvent
from outbound.models import Delivery, Endpoint
from outbound.services import delivery as sender
from outbound.services.delivery import backoff, claim, queue_deliveries, record_attempt
from playbooks.services.tasks import create_task
from tests.outbound.conftest import FAIL, GONE, HANG, OK, Receiver, subscribe

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _short_timeout(settings: object) -> None:
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.5  # type: ignore[attr-defined]


def _event(n: int = 1) -> NewEvent:
    return NewEvent(f"evt_t_{n}", "task.created", None, {"n": n}, timezone.now())


def _make_due(delivery: Delivery) -> None:
    Delivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - dt.timedelta(seconds=1)
    )


def test_a_failing_then_hanging_receiver_gets_one_signed_request_per_attempt_until_it_recovers(
    receiver: Receiver,
    admin: User,
    csm: User,
    account: Account,
    django_capture_on_commit_callbacks: object,
) -> None:
    receiver.script = [FAIL, HANG, OK]
    issued = subscribe(receiver, admin, "task.created")
    start = timezone.now()
    # The task's commit nudges the publisher, whose commit nudges the sender (eager here):
    # the first attempt is made at once.
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        create_task(actor=csm, account=account, title="Call the champion")
    [d] = Delivery.objects.all()
    assert (d.status, d.attempts, d.last_status_code) == ("pending", 1, 500)
    first_wait = (d.next_attempt_at - start).total_seconds()
    assert 30 * 0.8 - 1 <= first_wait <= 30 * 1.2 + 5

    _make_due(d)
    assert sender.send_due_deliveries() == 1
    d.refresh_from_db()
    assert (d.status, d.attempts, d.last_status_code) == ("pending", 2, None)
    assert "Timeout" in d.last_error

    _make_due(d)
    assert sender.send_due_deliveries() == 1
    d.refresh_from_db()
    assert (d.status, d.attempts, d.last_status_code) == ("succeeded", 3, 200)
    assert d.delivered_at is not None and d.last_response == '{"received": true}'
    assert sender.send_due_deliveries() == 0  # nothing left: no fourth request

    assert len(receiver.requests) == 3
    assert len(set(receiver.ids())) == 1  # the same webhook-id on every attempt
    verifier = Webhook(issued.secret)
    for request in receiver.requests:
        payload = verifier.verify(request.body, request.headers)
        assert payload["type"] == "task.created"
        assert payload["data"]["account"]["external_id"] == account.external_id
    with pytest.raises(Exception, match="signature"):
        Webhook("whsec_" + "A" * 32).verify(receiver.requests[0].body, receiver.requests[0].headers)


def test_the_signature_matches_the_standard_webhooks_example() -> None:
    # The example of the spec (standard-webhooks/spec, "Signature scheme").
    from outbound.signing import signed_headers

    headers = signed_headers(
        secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        msg_id="msg_p5jXN8AQM9LWM0D4loKWxJek",
        body='{"test": 2432232314}',
        at=dt.datetime.fromtimestamp(1614265330, tz=dt.UTC),
    )
    assert headers["webhook-signature"] == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert headers["webhook-timestamp"] == "1614265330"


def test_backoff_grows_threefold_with_jitter_and_caps_at_six_hours() -> None:
    assert [backoff(n, rand=lambda: 0.5).total_seconds() for n in range(1, 8)] == [
        30,
        90,
        270,
        810,
        2430,
        7290,
        21600,
    ]
    assert backoff(1, rand=lambda: 0.0).total_seconds() == pytest.approx(24)
    assert backoff(1, rand=lambda: 1.0).total_seconds() == pytest.approx(36)
    assert backoff(30, rand=lambda: 0.5) == dt.timedelta(hours=6)


def test_a_delivery_that_keeps_failing_is_retried_for_a_day_then_failed(admin: User) -> None:
    endpoint = Endpoint.objects.create(
        url="http://127.0.0.1:9/", secret_encrypted=encrypt("whsec_x"), owner=admin
    )
    queue_deliveries(events=[_event()], endpoint_ids={"evt_t_1": [endpoint.pk]})
    d = Delivery.objects.get()
    clock = start = d.queued_at
    schedule = []
    while True:
        claimed = claim(delivery_id=d.pk, now=clock)
        assert claimed is not None
        status = record_attempt(delivery=claimed, code=503, now=clock, rand=lambda: 0.5)
        d.refresh_from_db()
        if status == Delivery.Status.FAILED:
            break
        schedule.append(round((d.next_attempt_at - start).total_seconds()))
        assert claim(delivery_id=d.pk, now=d.next_attempt_at - dt.timedelta(seconds=1)) is None
        clock = d.next_attempt_at
    # 30 s, 2 min, 6.5 min, 20 min, ~1 h, ~3 h, then every 6 h while inside the day.
    assert schedule == [30, 120, 390, 1200, 3630, 10920, 32520, 54120, 75720]
    assert d.attempts == 10 and d.status == "failed" and d.last_error == "HTTP 503"


def test_a_claimed_delivery_cannot_be_claimed_again_until_its_lease_runs_out(
    admin: User, settings: object
) -> None:
    endpoint = Endpoint.objects.create(
        url="http://127.0.0.1:9/", secret_encrypted=encrypt("whsec_x"), owner=admin
    )
    queue_deliveries(events=[_event()], endpoint_ids={"evt_t_1": [endpoint.pk]})
    d = Delivery.objects.get()
    now = timezone.now()
    first = claim(delivery_id=d.pk, now=now)
    assert first is not None and first.attempts == 1
    assert claim(delivery_id=d.pk, now=now) is None
    lease = dt.timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS)  # type: ignore[attr-defined]
    assert claim(delivery_id=d.pk, now=now + lease - dt.timedelta(seconds=1)) is None
    # The worker died: after its lease the delivery is due again, as a new attempt.
    second = claim(delivery_id=d.pk, now=now + lease + dt.timedelta(seconds=1))
    assert second is not None and second.attempts == 2
    # The dead worker's late result cannot overwrite the newer attempt.
    record_attempt(delivery=first, code=200, now=now)
    d.refresh_from_db()
    assert (d.status, d.attempts) == ("sending", 2)


def test_a_disabled_endpoint_gets_nothing(receiver: Receiver, admin: User) -> None:
    issued = subscribe(receiver, admin, "task.created")
    queue_deliveries(events=[_event()], endpoint_ids={"evt_t_1": [issued.endpoint.pk]})
    Endpoint.objects.filter(pk=issued.endpoint.pk).update(enabled=False)
    assert sender.send_due_deliveries() == 0
    assert receiver.requests == []


def test_a_rest_hook_answered_410_is_unsubscribed(receiver: Receiver, csm: User) -> None:
    receiver.script = [GONE]
    from outbound.services.subscriptions import subscribe_hook

    hook = subscribe_hook(actor=csm, target_url=receiver.url, event="task.created").endpoint
    queue_deliveries(events=[_event()], endpoint_ids={"evt_t_1": [hook.pk]})
    assert sender.send_due_deliveries() == 1
    hook.refresh_from_db()
    assert not hook.enabled
    assert Delivery.objects.get().status == "failed"


def test_a_replay_sends_the_same_event_again_with_a_new_day_of_retries(
    receiver: Receiver, admin: User
) -> None:
    issued = subscribe(receiver, admin, "task.created")
    queue_deliveries(events=[_event()], endpoint_ids={"evt_t_1": [issued.endpoint.pk]})
    sender.send_due_deliveries()
    d = Delivery.objects.get()
    assert d.status == "succeeded"
    sender.replay(delivery=d, actor=admin)
    assert sender.send_due_deliveries() == 1
    d.refresh_from_db()
    assert (d.status, d.attempts) == ("succeeded", 2)
    assert receiver.ids() == ["evt_t_1", "evt_t_1"]
    assert json.loads(receiver.requests[1].body)["data"] == {"n": 1}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_send_each_delivery_exactly_once(
    receiver: Receiver, admin: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sender, "nudge_by_name", lambda names: None)  # the workers send
    issued = subscribe(receiver, admin, "task.created")
    events = [_event(n) for n in range(40)]
    queue_deliveries(events=events, endpoint_ids={e.event_id: [issued.endpoint.pk] for e in events})
    barrier = threading.Barrier(2)
    counts: list[int] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            barrier.wait()
            counts.append(sender.send_due_deliveries())
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert sum(counts) == 40 and all(counts)  # both took part, none sent twice
    assert sorted(receiver.ids()) == sorted(e.event_id for e in events)
    assert set(Delivery.objects.values_list("status", "attempts")) == {("succeeded", 1)}
