"""/api/v1/webhooks/ (admins) and /api/v1/hooks/ (Zapier-style REST hooks)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import Account, AuditEntry, User
from accounts.services.audit import EMPTY, MASK
from outbound.events import EventType, NewEvent, example_payload
from outbound.models import Delivery, Endpoint, Event
from outbound.services.delivery import queue_deliveries
from tests.api.helpers import api_for

pytestmark = pytest.mark.django_db

BODY: dict[str, Any] = {"url": "https://hooks.example.com/chs", "event_types": ["task.created"]}


def test_an_admin_subscribes_and_sees_the_secret_once(admin: User) -> None:
    api = api_for(admin)
    created = api.post("/api/v1/webhooks/", {**BODY, "description": "Warehouse"})
    assert created.status_code == 201
    body = created.json()
    assert body["secret"].startswith("whsec_") and body["owner"] == "admin"
    listed = api.get("/api/v1/webhooks/").json()["results"]
    assert [e["id"] for e in listed] == [body["id"]]
    assert "secret" not in listed[0]
    one = api.get(f"/api/v1/webhooks/{body['id']}/").json()
    assert "secret" not in one and one["event_types"] == ["task.created"]
    entry = AuditEntry.objects.get(object_type="webhook", action="created")
    assert body["secret"] not in str(entry.changes) and BODY["url"] not in str(entry.changes)
    assert entry.changes["secret"] == [EMPTY, MASK]
    assert entry.changes["webhook_url"] == [EMPTY, MASK]


def test_disabling_through_the_api_is_audited_as_disabled(admin: User) -> None:
    api = api_for(admin)
    pk = api.post("/api/v1/webhooks/", BODY).json()["id"]
    response = api.patch(f"/api/v1/webhooks/{pk}/", {"enabled": False})
    assert response.status_code == 200 and response.json()["enabled"] is False
    assert AuditEntry.objects.filter(object_type="webhook", action="disabled").count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://x.example/", "event_types": ["task.created"]}, "url"),
        ({"url": "https://x.example/", "event_types": ["task.deleted"]}, "event_types"),
        ({"url": "https://x.example/", "event_types": []}, "event_types"),
    ],
)
def test_bad_subscriptions_say_which_field_is_wrong(admin: User, body: dict, field: str) -> None:
    response = api_for(admin).post("/api/v1/webhooks/", body)
    assert response.status_code == 400
    assert any(field in str(d) for d in response.json()["details"]), response.json()
    assert not Endpoint.objects.exists()


def test_webhooks_do_not_exist_for_csms_and_managers(csm: User, manager: User) -> None:
    for user in (csm, manager):
        assert api_for(user).get("/api/v1/webhooks/").status_code == 404
        assert api_for(user).post("/api/v1/webhooks/", BODY).status_code == 404


def test_deliveries_list_what_was_sent_and_how_it_went(admin: User) -> None:
    api = api_for(admin)
    pk = api.post("/api/v1/webhooks/", BODY).json()["id"]
    event = NewEvent("evt_x", "task.created", None, {}, timezone.now())
    queue_deliveries(events=[event], endpoint_ids={"evt_x": [pk]})
    Delivery.objects.update(status="failed", attempts=10, last_status_code=503)
    [row] = api.get(f"/api/v1/webhooks/{pk}/deliveries/").json()["results"]
    assert (row["event_id"], row["status"], row["attempts"], row["last_status_code"]) == (
        "evt_x",
        "failed",
        10,
        503,
    )


def test_a_zapier_hook_subscribes_and_unsubscribes_with_an_api_key(csm: User) -> None:
    api = api_for(csm)
    target = "https://hooks.zapier.com/hooks/standard/1/abc/"
    created = api.post("/api/v1/hooks/", {"target_url": target, "event": "account.band_changed"})
    assert created.status_code == 201
    body = created.json()
    assert body["target_url"] == target and body["event"] == "account.band_changed"
    assert body["secret"].startswith("whsec_")
    hook = Endpoint.objects.get(pk=body["id"])
    assert hook.kind == "rest_hook" and hook.owner == csm
    response = api.client.delete(f"/api/v1/hooks/{body['id']}/", headers=api._headers())
    assert response.status_code == 204
    assert not Endpoint.objects.exists()
    assert AuditEntry.objects.filter(object_type="webhook", action="deleted").exists()


def test_a_hook_cannot_be_removed_by_someone_else(csm: User, other_csm: User) -> None:
    pk = (
        api_for(csm)
        .post("/api/v1/hooks/", {"target_url": "https://h.example/", "event": "task.created"})
        .json()["id"]
    )
    other = api_for(other_csm)
    assert other.client.delete(f"/api/v1/hooks/{pk}/", headers=other._headers()).status_code == 404
    assert Endpoint.objects.filter(pk=pk).exists()


def test_a_read_key_cannot_subscribe(csm: User) -> None:
    response = api_for(csm, "read").post(
        "/api/v1/hooks/", {"target_url": "https://h.example/", "event": "task.created"}
    )
    assert response.status_code == 403


def test_samples_give_the_documented_example_until_a_real_payload_exists(
    csm: User, account: Account, other_account: Account
) -> None:
    api = api_for(csm)
    answer = api.get("/api/v1/hooks/samples/task.created/")
    assert answer.status_code == 200 and answer.json() == example_payload("task.created")
    theirs = {"id": "evt_1", "type": "task.created", "data": {"account": {"id": other_account.pk}}}
    mine = {"id": "evt_2", "type": "task.created", "data": {"account": {"id": account.pk}}}
    Event.objects.create(
        event_id="evt_2", type="task.created", payload=mine, created_at=timezone.now()
    )
    Event.objects.create(
        event_id="evt_1", type="task.created", payload=theirs, created_at=timezone.now()
    )
    # The newest is about another book: the CSM gets their own, never the other one.
    assert api.get("/api/v1/hooks/samples/task.created/").json() == mine
    missing = api.get("/api/v1/hooks/samples/task.deleted/")
    assert missing.status_code == 404


def test_the_schema_documents_hooks_with_examples(client: Client) -> None:
    schema = client.get("/api/schema/", headers={"accept": "application/json"}).json()
    paths = schema["paths"]
    for path in (
        "/api/v1/hooks/",
        "/api/v1/hooks/{id}/",
        "/api/v1/hooks/samples/{event}/",
        "/api/v1/webhooks/",
        "/api/v1/webhooks/{id}/",
        "/api/v1/webhooks/{id}/deliveries/",
    ):
        assert path in paths, path
    sample = paths["/api/v1/hooks/samples/{event}/"]["get"]
    examples = sample["responses"]["200"]["content"]["application/json"]["examples"]
    assert len(examples) == len(EventType.values)
    assert (
        "examples" in paths["/api/v1/hooks/"]["post"]["requestBody"]["content"]["application/json"]
    )
