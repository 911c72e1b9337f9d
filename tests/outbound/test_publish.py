"""From the outboxes to events and deliveries: one per change and subscriber, payload
shapes per event type, nothing lost or doubled, nothing outside a subscriber's scope."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from accounts.models import Account, OutboxEvent, User
from chs_site.secrets import encrypt
from outbound.events import SUBSCRIBABLE, EventType, example_payload
from outbound.models import Delivery, Endpoint, Event
from outbound.services.publish import publish_pending
from outbound.services.subscriptions import subscribe_hook
from playbooks.models import Task
from playbooks.services.firing import process_score_events
from playbooks.services.tasks import complete_task, create_task
from scoring.models import Scorecard, ScoreEvent
from scoring.services.events import claim_score_events
from scoring.services.outcomes import record_outcome
from scoring.services.recompute import recompute_dirty_accounts
from tests.accounts.imports.helpers import run, upload
from tests.conftest import record
from tests.factories import PlaybookFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_in_tmp")]

ACCOUNT_KEYS = {"id", "external_id", "name", "url"}


def _admin_endpoint(admin: User) -> Endpoint:
    return Endpoint.objects.create(
        url="https://hooks.example.com/x",
        secret_encrypted=encrypt("whsec_x"),
        owner=admin,
        event_types=list(SUBSCRIBABLE),
    )


def _payloads(event_type: str) -> list[dict[str, Any]]:
    return [e.payload for e in Event.objects.filter(type=event_type).order_by("id")]


def _envelope_ok(payload: dict[str, Any], event_type: str) -> None:
    assert set(payload) == {"id", "type", "version", "created_at", "data"}
    assert payload["type"] == event_type and payload["version"] == 1
    dt.datetime.fromisoformat(payload["created_at"])
    # The documented example has the same shape: what the README and samples promise.
    example = example_payload(event_type)["data"]
    assert set(payload["data"]) == set(example)
    for key, value in example.items():
        if isinstance(value, dict):
            assert set(payload["data"][key]) == set(value), key


def test_every_event_type_becomes_one_delivery_with_its_documented_shape(
    admin: User, csm: User, account: Account, scorecard: Scorecard
) -> None:
    endpoint = _admin_endpoint(admin)
    PlaybookFactory.create(name="Red → call")
    now = timezone.now()
    record(account, "nps", 2, now - dt.timedelta(hours=1))
    recompute_dirty_accounts()  # first score: red (score and band changed)
    process_score_events()  # the playbook fires: a run and its task
    task = create_task(actor=csm, account=account, title="Check in")
    complete_task(task=task, actor=csm, outcome_note="Called, all good")
    record_outcome(
        user=csm, account=account, kind="renewed", occurred_at=timezone.localdate(), arr_change=0
    )
    run(upload(admin, "accounts", "external_id,name\nNEW-1,New Co\n"), admin)

    assert publish_pending() > 0
    for event_type in SUBSCRIBABLE:
        payloads = _payloads(event_type)
        assert payloads, event_type
        for payload in payloads:
            _envelope_ok(payload, event_type)
    [band] = _payloads(EventType.BAND_CHANGED)
    assert band["data"]["band"] == "red" and band["data"]["previous_band"] == ""
    assert band["data"]["account"]["external_id"] == account.external_id
    assert band["data"]["account"]["url"].endswith(f"/accounts/{account.external_id}/")
    created = {p["data"]["task"]["id"] for p in _payloads(EventType.TASK_CREATED)}
    assert created == set(Task.objects.values_list("pk", flat=True))  # the playbook's too
    [done] = _payloads(EventType.TASK_COMPLETED)
    assert done["data"]["task"]["id"] == task.pk and done["data"]["task"]["status"] == "done"
    [fired] = _payloads(EventType.PLAYBOOK_FIRED)
    assert fired["data"]["playbook"]["name"] == "Red → call"
    [imported] = _payloads(EventType.IMPORT_FINISHED)
    assert imported["data"]["import"]["status"] == "succeeded"
    # Nothing personal: no email addresses anywhere in what is sent.
    assert "@" not in str(list(Event.objects.values_list("payload", flat=True)))
    assert Delivery.objects.filter(endpoint=endpoint).count() == Event.objects.count()
    # Both outboxes are drained for this consumer; a second run sends nothing new.
    assert not OutboxEvent.objects.filter(processed_at__isnull=True).exists()
    assert ScoreEvent.objects.exists()
    with transaction.atomic():
        assert not claim_score_events("webhooks")
    before = Delivery.objects.count()
    assert publish_pending() == 0
    assert Delivery.objects.count() == before


def test_a_rolled_back_change_sends_nothing(admin: User, csm: User, account: Account) -> None:
    _admin_endpoint(admin)
    with pytest.raises(RuntimeError), transaction.atomic():
        create_task(actor=csm, account=account, title="Never")
        raise RuntimeError
    publish_pending()
    assert not Event.objects.exists()


def test_events_are_stored_only_for_subscribed_types(
    admin: User, csm: User, account: Account
) -> None:
    Endpoint.objects.create(
        url="https://x.example/",
        secret_encrypted=encrypt("whsec_x"),
        owner=admin,
        event_types=["outcome.recorded"],
    )
    create_task(actor=csm, account=account, title="Check in")
    publish_pending()
    assert not Event.objects.exists()
    assert not OutboxEvent.objects.filter(processed_at__isnull=True).exists()


def test_a_csms_hook_gets_only_events_about_their_own_book(
    csm: User, account: Account, other_account: Account, admin: User
) -> None:
    hook = subscribe_hook(actor=csm, target_url="https://hooks.zapier.com/1/", event="task.created")
    admin_hook = subscribe_hook(
        actor=admin, target_url="https://hooks.zapier.com/2/", event="task.created"
    )
    mine = create_task(actor=csm, account=account, title="Mine")
    theirs = create_task(actor=admin, account=other_account, title="Theirs")
    run(upload(admin, "accounts", "external_id,name\nNEW-2,New Co\n"), admin)
    publish_pending()

    def task_ids(endpoint: Endpoint) -> set[int]:
        return {
            d.event.payload["data"]["task"]["id"]
            for d in Delivery.objects.filter(endpoint=endpoint).select_related("event")
        }

    assert task_ids(hook.endpoint) == {mine.pk}
    assert task_ids(admin_hook.endpoint) == {mine.pk, theirs.pk}


def test_disabled_endpoints_are_not_given_new_deliveries(
    admin: User, csm: User, account: Account
) -> None:
    endpoint = _admin_endpoint(admin)
    Endpoint.objects.filter(pk=endpoint.pk).update(enabled=False)
    create_task(actor=csm, account=account, title="Check in")
    publish_pending()
    assert not Delivery.objects.exists()
