"""The Webhooks page: admins only, the secret shown once, deliveries, test send, replay."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import AuditEntry, User
from chs_site.secrets import encrypt
from outbound.events import NewEvent
from outbound.models import Delivery, Endpoint
from outbound.services.delivery import queue_deliveries
from tests.outbound.conftest import Receiver, subscribe

pytestmark = pytest.mark.django_db


def test_csms_and_managers_get_a_404(csm_client: Client, manager_client: Client) -> None:
    for client in (csm_client, manager_client):
        assert client.get("/webhooks/").status_code == 404
        assert client.post("/webhooks/", {"url": "https://x.example/"}).status_code == 404


def test_adding_an_endpoint_shows_its_secret_once(admin_client: Client) -> None:
    response = admin_client.post(
        "/webhooks/",
        {"url": "https://hooks.example.com/chs", "event_types": ["task.created", "task.completed"]},
    )
    assert response.status_code == 200
    endpoint = Endpoint.objects.get()
    assert endpoint.secret in response.content.decode()
    assert endpoint.secret.startswith("whsec_")
    assert endpoint.secret not in endpoint.secret_encrypted  # encrypted at rest
    assert endpoint.event_types == ["task.created", "task.completed"]
    again = admin_client.get("/webhooks/").content.decode()
    assert endpoint.secret not in again and "hooks.example.com/chs" in again
    detail = admin_client.get(f"/webhooks/{endpoint.pk}/").content.decode()
    assert endpoint.secret not in detail
    assert AuditEntry.objects.filter(object_type="webhook", action="created").count() == 1


def test_a_bad_endpoint_says_which_field_and_stores_nothing(admin_client: Client) -> None:
    response = admin_client.post("/webhooks/", {"url": "not a url", "event_types": []})
    assert response.status_code == 400
    html = response.content.decode()
    assert "Enter a valid URL" in html and "Choose at least one event." in html
    assert not Endpoint.objects.exists()


def test_the_endpoint_page_shows_recent_deliveries_in_few_queries(
    admin: User, admin_client: Client, django_assert_max_num_queries: object
) -> None:
    endpoint = Endpoint.objects.create(
        url="https://x.example/",
        secret_encrypted=encrypt("whsec_x"),
        owner=admin,
        event_types=["task.created"],
    )
    events = [NewEvent(f"evt_{n}", "task.created", None, {}, timezone.now()) for n in range(30)]
    queue_deliveries(events=events, endpoint_ids={e.event_id: [endpoint.pk] for e in events})
    Delivery.objects.filter(event__event_id="evt_3").update(
        status="failed", attempts=10, last_status_code=503, last_error="HTTP 503"
    )
    with django_assert_max_num_queries(8):  # type: ignore[operator]
        response = admin_client.get(f"/webhooks/{endpoint.pk}/")
    html = response.content.decode()
    assert response.status_code == 200 and "evt_29" in html and "HTTP 503" in html
    fragment = admin_client.get(f"/webhooks/{endpoint.pk}/", headers={"HX-Request": "true"})
    assert fragment.content.decode().lstrip().startswith('<section class="card" id="deliveries"')
    with django_assert_max_num_queries(8):  # type: ignore[operator]
        assert admin_client.get("/webhooks/").status_code == 200


def test_test_send_replay_with_confirmation_and_disable(
    receiver: Receiver, admin: User, admin_client: Client
) -> None:
    issued = subscribe(receiver, admin, "task.created")
    pk = issued.endpoint.pk
    with_commit = admin_client.post(f"/webhooks/{pk}/test/")
    assert with_commit.status_code == 302
    # The test client's request commits nothing (test transaction): send what is queued.
    from outbound.services.delivery import send_due_deliveries

    assert send_due_deliveries() == 1
    delivery = Delivery.objects.get()
    assert delivery.status == "succeeded" and delivery.event.type == "webhook.test"
    assert receiver.ids() == [delivery.event.event_id]

    confirm = admin_client.get(f"/webhooks/deliveries/{delivery.pk}/replay/")
    assert confirm.status_code == 200 and "Send again" in confirm.content.decode()
    refused = admin_client.post(f"/webhooks/deliveries/{delivery.pk}/replay/")
    assert refused.status_code == 400
    delivery.refresh_from_db()
    assert delivery.status == "succeeded"
    done = admin_client.post(f"/webhooks/deliveries/{delivery.pk}/replay/", {"confirm": "yes"})
    assert done.status_code == 302
    delivery.refresh_from_db()
    assert delivery.status == "pending"

    admin_client.post(f"/webhooks/{pk}/toggle/")
    assert not Endpoint.objects.get(pk=pk).enabled
    assert AuditEntry.objects.filter(object_type="webhook", action="disabled").exists()
    refused_test = admin_client.post(f"/webhooks/{pk}/test/", follow=True)
    assert "disabled" in refused_test.content.decode()


def test_deleting_an_endpoint_needs_confirmation(admin: User, admin_client: Client) -> None:
    endpoint = Endpoint.objects.create(
        url="https://x.example/", secret_encrypted=encrypt("whsec_x"), owner=admin
    )
    assert admin_client.post(f"/webhooks/{endpoint.pk}/delete/").status_code == 400
    assert Endpoint.objects.exists()
    response = admin_client.post(f"/webhooks/{endpoint.pk}/delete/", {"confirm": "yes"})
    assert response.status_code == 302 and not Endpoint.objects.exists()
