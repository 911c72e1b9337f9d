"""API keys: created hashed, shown once, scoped, revocable, throttled per key."""

from __future__ import annotations

import hashlib
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.authentication import PerTokenThrottle
from accounts.models import Account, ApiToken, User
from accounts.services.tokens import create_api_token, revoke_api_token
from tests.api.helpers import ApiClient, api_for

pytestmark = pytest.mark.django_db


def test_create_api_token_command_prints_only_the_key_and_stores_its_hash(csm: User) -> None:
    out = StringIO()
    call_command("create_api_token", "csm", "--scope", "read", stdout=out)
    key = out.getvalue().strip()
    assert "\n" not in key and key.startswith("chs_") and len(key) > 30
    token = ApiToken.objects.get(user=csm)
    assert token.scope == "read"
    assert token.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in {token.key_hash, token.prefix} and key.startswith(token.prefix)


def test_create_api_token_command_rejects_unknown_user(db: None) -> None:
    with pytest.raises(CommandError, match="No user named 'ghost'"):
        call_command("create_api_token", "ghost")


def test_a_key_acts_as_its_user_and_records_last_use(csm: User, account: Account) -> None:
    issued = create_api_token(user=csm, scope="read")
    assert issued.token.last_used_at is None
    response = ApiClient(issued.key).get("/api/v1/accounts/")
    assert response.status_code == 200
    assert [a["external_id"] for a in response.json()["results"]] == ["ACME-1"]
    issued.token.refresh_from_db()
    assert issued.token.last_used_at is not None


def test_missing_unknown_and_revoked_keys_get_401_with_a_reason(csm: User) -> None:
    from django.test import Client

    response = Client().get("/api/v1/accounts/")
    assert response.status_code == 401
    assert response.json() == {
        "error": "Authentication credentials were not provided.",
        "details": [],
    }

    response = ApiClient("chs_not-a-real-key").get("/api/v1/accounts/")
    assert response.status_code == 401
    assert response.json()["error"] == "Unknown API key."

    issued = create_api_token(user=csm, scope="read")
    revoke_api_token(token=issued.token)
    response = ApiClient(issued.key).get("/api/v1/accounts/")
    assert response.status_code == 401
    assert "revoked" in response.json()["error"]


def test_a_deactivated_users_key_stops_working(csm: User) -> None:
    client = api_for(csm, "read")
    csm.is_active = False
    csm.save(update_fields=["is_active"])
    assert client.get("/api/v1/accounts/").status_code == 401


def test_ingest_scope_cannot_read(csm: User, account: Account) -> None:
    client = api_for(csm, "ingest")
    for url in (
        "/api/v1/accounts/",
        "/api/v1/accounts/ACME-1/",
        "/api/v1/scorecards/",
        "/api/v1/metric-definitions/",
        "/api/v1/accounts/ACME-1/scores/",
    ):
        response = client.get(url)
        assert response.status_code == 403, url
        assert "'ingest' scope" in response.json()["error"]


def test_read_scope_cannot_write(csm: User, account: Account, logins: object) -> None:
    client = api_for(csm, "read")
    attempts = [
        (
            "post",
            "/api/v1/metrics/",
            {
                "values": [
                    {
                        "account": "ACME-1",
                        "metric": "logins",
                        "value": 1,
                        "observed_at": "2026-01-01T00:00:00Z",
                    }
                ]
            },
        ),
        ("post", "/api/v1/feedback/", {"account": "ACME-1", "kind": "note", "text": "hi"}),
        (
            "post",
            "/api/v1/outcomes/",
            {
                "account": "ACME-1",
                "kind": "renewed",
                "occurred_at": "2026-01-01",
                "arr_change": "1",
            },
        ),
        ("post", "/api/v1/accounts/", {"external_id": "NEW-1", "name": "New"}),
        ("patch", "/api/v1/accounts/ACME-1/", {"name": "Renamed"}),
    ]
    for method, url, body in attempts:
        response = getattr(client, method)(url, body)
        assert response.status_code == 403, url
        assert "'read' scope" in response.json()["error"]
    assert not Account.objects.filter(external_id="NEW-1").exists()
    assert Account.objects.get(external_id="ACME-1").name == "Acme Corp"


def test_ingest_scope_may_send_data_but_not_change_configuration(
    admin: User, account: Account, logins: object
) -> None:
    client = api_for(admin, "ingest")
    response = client.post(
        "/api/v1/metrics/",
        {
            "values": [
                {
                    "account": "ACME-1",
                    "metric": "logins",
                    "value": 1,
                    "observed_at": "2026-01-01T00:00:00Z",
                }
            ]
        },
    )
    assert response.status_code == 202
    response = client.post("/api/v1/metric-definitions/", {"key": "x", "name": "X"})
    assert response.status_code == 403


def test_each_key_is_throttled_on_its_own_with_a_clear_429(
    csm: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(PerTokenThrottle, "THROTTLE_RATES", {"token": "3/minute"})
    first, second = api_for(csm, "read"), api_for(csm, "read")
    assert [first.get("/api/v1/accounts/").status_code for _ in range(3)] == [200, 200, 200]
    response = first.get("/api/v1/accounts/")
    assert response.status_code == 429
    body = response.json()
    assert body["error"].startswith("Too many requests with this API key; retry in")
    assert body["retry_after"] >= 1 and int(response["Retry-After"]) >= 1
    # Another key of the same user has its own budget.
    assert second.get("/api/v1/accounts/").status_code == 200
