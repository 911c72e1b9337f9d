"""The Connectors page: admins only, credentials encrypted and never shown again, every
change audited with the secret masked, confirmation before a sync, live run progress."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEntry
from chs_site.secrets import decrypt
from connectors.models import Connector, SyncRun
from scoring.models import MetricDefinition
from tests.connectors.conftest import HUBSPOT_TOKEN

pytestmark = pytest.mark.django_db


def new_hubspot_form(**overrides: str) -> dict[str, str]:
    data = {
        "name": "HubSpot EU",
        "credential": HUBSPOT_TOKEN,
        "interval_minutes": "30",
        "enabled": "on",
        "write_back": "on",
        "map_name_property": "name",
        "map_domain_property": "domain",
        "map_segment_property": "tier",
        "map_lifecycle_property": "lifecyclestage",
        "map_lifecycle_stages": "customer = adoption\nevangelist = expansion",
        "map_arr_property": "",
        "map_renewal_property": "",
        "map_deal_stages": "closedwon, renewal",
        "map_contract_months": "12",
        "map_metrics": "num_associated_contacts = hubspot_contacts\nseats_used = seats",
    }
    data.update(overrides)
    return data


def test_csm_and_manager_get_404_everywhere(csm_client: Client, manager_client: Client) -> None:
    for client in (csm_client, manager_client):
        assert client.get("/connectors/").status_code == 404
        assert client.get("/connectors/new/hubspot/").status_code == 404
        assert client.post("/connectors/new/hubspot/", new_hubspot_form()).status_code == 404
    assert not Connector.objects.exists()


def test_the_form_shows_the_kinds_defaults(admin_client: Client) -> None:
    html = admin_client.get("/connectors/new/hubspot/").content.decode()
    assert 'value="lifecyclestage"' in html
    assert "num_associated_contacts = hubspot_contacts" in html
    assert "closedwon" in html
    assert admin_client.get("/connectors/new/nosuchkind/").status_code == 404


def test_admin_creates_a_connector_credential_encrypted_and_never_shown(
    admin_client: Client,
) -> None:
    response = admin_client.post("/connectors/new/hubspot/", new_hubspot_form())
    assert response.status_code == 302
    connector = Connector.objects.get()
    assert connector.enabled and connector.write_back and connector.interval_minutes == 30
    assert connector.mapping["metrics"] == {
        "num_associated_contacts": "hubspot_contacts",
        "seats_used": "seats",
    }
    assert connector.mapping["deal_stages"] == "closedwon, renewal"
    # Encrypted at rest: the column holds a Fernet token, not the token itself.
    with connection.cursor() as cursor:
        cursor.execute("SELECT credential_encrypted FROM connectors_connector")
        (stored,) = cursor.fetchone()
    assert HUBSPOT_TOKEN not in stored and stored.startswith("gAAAAA")
    assert decrypt(stored) == HUBSPOT_TOKEN
    # The metrics it writes exist now.
    assert set(MetricDefinition.objects.values_list("key", flat=True)) >= {
        "hubspot_contacts",
        "seats",
    }
    for url in ("/connectors/", f"/connectors/{connector.pk}/"):
        html = admin_client.get(url).content.decode()
        assert HUBSPOT_TOKEN not in html
        assert "•••• 6789" in html
    # The audit log says a secret was set, never what it is.
    entry = AuditEntry.objects.get(object_type="connector", action="created")
    assert entry.changes["secret"] == ["(empty)", "•••"]
    assert HUBSPOT_TOKEN not in str(list(AuditEntry.objects.values_list("changes", flat=True)))


def test_editing_without_a_credential_keeps_it_and_audits_the_change(admin_client: Client) -> None:
    admin_client.post("/connectors/new/hubspot/", new_hubspot_form())
    connector = Connector.objects.get()
    stored = connector.credential_encrypted
    response = admin_client.post(
        f"/connectors/{connector.pk}/",
        new_hubspot_form(credential="", enabled="", interval_minutes="120"),
    )
    assert response.status_code == 302
    connector.refresh_from_db()
    assert connector.credential_encrypted == stored and not connector.enabled
    entry = AuditEntry.objects.filter(object_type="connector").latest("id")
    assert entry.action == "disabled"
    assert entry.changes["interval_minutes"] == [30, 120]
    assert "secret" not in entry.changes

    admin_client.post(
        f"/connectors/{connector.pk}/", new_hubspot_form(credential="pat-new-0000000000001234")
    )
    connector.refresh_from_db()
    assert decrypt(connector.credential_encrypted) == "pat-new-0000000000001234"
    assert connector.credential_hint == "•••• 1234"
    entry = AuditEntry.objects.filter(object_type="connector").latest("id")
    assert entry.changes["secret"] == ["•••", "•••"]


def test_bad_mapping_and_schedule_are_named_and_nothing_is_saved(admin_client: Client) -> None:
    response = admin_client.post(
        "/connectors/new/hubspot/",
        new_hubspot_form(map_metrics="seats_used seats", interval_minutes="1", credential=""),
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "line 1: write it as" in html
    assert "greater than or equal to 5" in html
    assert "This field is required." in html
    assert not Connector.objects.exists()
    refused = admin_client.post("/connectors/new/hubspot/", new_hubspot_form(interval_minutes="1"))
    assert refused.status_code == 200 and HUBSPOT_TOKEN not in refused.content.decode()
    response = admin_client.post(
        "/connectors/new/hubspot/", new_hubspot_form(map_metrics="seats_used = not a key!")
    )
    assert "is not a metric key" in response.content.decode()


def test_sync_now_needs_confirmation_then_runs(
    admin_client: Client, hubspot_connector: Connector, django_capture_on_commit_callbacks: Any
) -> None:
    url = f"/connectors/{hubspot_connector.pk}/sync/"
    assert "Sync hubspot test now?" in admin_client.get(url).content.decode()
    assert admin_client.post(url).status_code == 400
    assert not SyncRun.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, {"confirm": "yes"})
    assert response.status_code == 302
    run = SyncRun.objects.get()
    assert run.status == "succeeded" and run.requested_by is not None
    assert AuditEntry.objects.filter(object_type="connector", action="run").count() == 1


def test_the_page_shows_a_failing_connector_and_its_runs(
    admin_client: Client, hubspot_connector: Connector, django_assert_max_num_queries: Any
) -> None:
    hubspot_connector.health = Connector.Health.FAILING
    hubspot_connector.last_error = "HubSpot refused the access token (401 Unauthorized)"
    hubspot_connector.save()
    for status in ("succeeded", "partial", "failed", "succeeded", "succeeded", "succeeded"):
        SyncRun.objects.create(connector=hubspot_connector, status=status)
    running = SyncRun.objects.create(
        connector=hubspot_connector, status="running", seen=40, expected=80
    )
    with django_assert_max_num_queries(8):
        html = admin_client.get("/connectors/").content.decode()
    assert "HubSpot refused the access token (401 Unauthorized)" in html
    assert html.count("<tr>") == 1 + 5  # header + the last five runs
    assert f'hx-get="/connectors/{hubspot_connector.pk}/runs/{running.pk}/"' in html
    assert 'value="50"' in html  # 40 of 80
    assert '<meta http-equiv="refresh"' in html  # without JavaScript, the page refreshes
    with django_assert_max_num_queries(6):
        assert admin_client.get(f"/connectors/{hubspot_connector.pk}/").status_code == 200
    with django_assert_max_num_queries(6):
        assert (
            admin_client.get(f"/connectors/{hubspot_connector.pk}/runs/{running.pk}/").status_code
            == 200
        )


def test_run_progress_fragment_then_refresh_when_finished(
    admin_client: Client, hubspot_connector: Connector
) -> None:
    run = SyncRun.objects.create(
        connector=hubspot_connector, status="running", seen=10, expected=40
    )
    url = reverse("connectors:run_detail", args=[hubspot_connector.pk, run.pk])
    fragment = admin_client.get(url, headers={"HX-Request": "true"})
    assert b'value="25"' in fragment.content and b"<html" not in fragment.content
    run.status = "partial"
    run.failed = 1
    run.errors = [{"record": "1001", "reason": "property x is 'y', not a number"}]
    run.save()
    assert admin_client.get(url, headers={"HX-Request": "true"}).headers["HX-Refresh"] == "true"
    html = admin_client.get(url).content.decode()
    assert "1001" in html and "property x is &#x27;y&#x27;, not a number" in html
    other = Connector.objects.create(kind="stripe", name="Other")
    assert (
        admin_client.get(reverse("connectors:run_detail", args=[other.pk, run.pk])).status_code
        == 404
    )


def test_delete_is_confirmed_and_audited(
    admin_client: Client, hubspot_connector: Connector
) -> None:
    url = f"/connectors/{hubspot_connector.pk}/delete/"
    assert admin_client.post(url).status_code == 400
    assert admin_client.post(url, {"confirm": "yes"}).status_code == 302
    assert not Connector.objects.exists()
    assert AuditEntry.objects.filter(object_type="connector", action="deleted").exists()
