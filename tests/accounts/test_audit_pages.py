"""The Audit log page and ``GET /api/v1/audit-log/``: admins only (404 for everyone else),
newest first, filtered, paginated, read-only."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import AuditEntry, User
from accounts.services.audit import record_audit
from accounts.services.tokens import create_api_token

pytestmark = pytest.mark.django_db

A = AuditEntry.Action
T = AuditEntry.ObjectType


@pytest.fixture
def logged(admin: User, csm: User) -> list[AuditEntry]:
    return [
        record_audit(
            action=A.ENABLED,
            object_type=T.PLAYBOOK,
            label="Red accounts",
            object_id=4,
            actor=admin,
            changes={"enabled": [False, True]},
        ),
        record_audit(
            action=A.CREATED,
            object_type=T.API_TOKEN,
            label="chs_abc… (csm, read)",
            actor=csm,
            changes={"scope": [None, "read"]},
        ),
    ]


def test_admin_sees_entries_newest_first_with_readable_diffs(
    admin_client: Client, logged: list[AuditEntry], django_assert_max_num_queries: object
) -> None:
    with django_assert_max_num_queries(8):  # type: ignore[operator]
        response = admin_client.get("/audit-log/")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.index("chs_abc") < html.index("Red accounts")  # newest first
    assert "<dt>enabled</dt><dd>no → yes</dd>" in html
    assert 'href="/audit-log/"' in html  # the nav link


def test_page_filters_by_type_actor_action_and_dates(
    admin_client: Client, logged: list[AuditEntry]
) -> None:
    html = admin_client.get("/audit-log/?object_type=playbook&actor=&action=").content.decode()
    assert "Red accounts" in html and "chs_abc" not in html
    html = admin_client.get("/audit-log/?actor=csm").content.decode()
    assert "chs_abc" in html and "Red accounts" not in html
    today = timezone.localdate()
    tomorrow = (today + dt.timedelta(days=1)).isoformat()
    html = admin_client.get(f"/audit-log/?since={tomorrow}").content.decode()
    assert "No entries match these filters" in html
    fragment = admin_client.get("/audit-log/?action=created", headers={"HX-Request": "true"})
    assert fragment.content.decode().lstrip().startswith('<section id="audit-entries"')


def test_page_explains_a_bad_filter(admin_client: Client, logged: list[AuditEntry]) -> None:
    response = admin_client.get("/audit-log/?object_type=spaceship&since=2026-02-30")
    assert response.status_code == 400
    html = response.content.decode()
    assert "Select a valid choice" in html and "Enter a valid date" in html


def test_page_paginates(admin_client: Client, admin: User) -> None:
    for i in range(55):
        record_audit(action=A.CREATED, object_type=T.OTHER, label=f"thing {i}", actor=admin)
    html = admin_client.get("/audit-log/").content.decode()
    assert "Page 1 of 2" in html and "thing 54" in html and "thing 0<" not in html
    assert "thing 0" in admin_client.get("/audit-log/?page=2").content.decode()


def test_page_is_not_there_for_csms_and_managers(
    csm_client: Client, manager_client: Client, logged: list[AuditEntry]
) -> None:
    assert csm_client.get("/audit-log/").status_code == 404
    assert manager_client.get("/audit-log/").status_code == 404
    assert 'href="/audit-log/"' not in manager_client.get("/portfolio/").content.decode()


def test_api_lists_entries_for_admins_with_filters(
    admin_client: Client, admin: User, logged: list[AuditEntry]
) -> None:
    body = admin_client.get("/api/v1/audit-log/").json()
    changes = [r for r in body["results"] if r["object_type"] != "sign_in"]  # force_login's
    assert [r["object_type"] for r in changes] == ["api_token", "playbook"]
    first = changes[1]
    assert first["actor"] == "admin" and first["changes"] == {"enabled": [False, True]}
    assert first["object_id"] == "4" and first["api_key"] is None
    body = admin_client.get("/api/v1/audit-log/?action=enabled&actor=admin").json()
    assert body["count"] == 1
    key = create_api_token(user=admin, scope="read").key
    response = Client().get(
        "/api/v1/audit-log/?object_type=playbook", headers={"Authorization": f"Token {key}"}
    )
    assert response.status_code == 200 and response.json()["count"] == 1


def test_api_refuses_bad_filters_with_the_field_named(admin_client: Client) -> None:
    for query, field in (
        ("since=yesterday", "since"),
        ("action=", "action"),
        ("object_type=spaceship", "object_type"),
    ):
        response = admin_client.get(f"/api/v1/audit-log/?{query}")
        assert response.status_code == 400, query
        assert field in response.content.decode(), query


def test_api_is_read_only_and_admins_only(
    admin_client: Client, csm_client: Client, csm: User, logged: list[AuditEntry]
) -> None:
    for method in ("post", "put", "patch", "delete"):
        assert getattr(admin_client, method)("/api/v1/audit-log/").status_code == 405
    key = create_api_token(user=csm, scope="write").key
    before = AuditEntry.objects.count()
    assert csm_client.get("/api/v1/audit-log/").status_code == 404
    response = Client().get("/api/v1/audit-log/", headers={"Authorization": f"Token {key}"})
    assert response.status_code == 404
    assert AuditEntry.objects.count() == before
