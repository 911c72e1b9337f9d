"""POST /api/v1/metrics/: validated as a whole, nothing stored on any bad item, idempotent."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import Account, User
from scoring.models import DirtyAccount, MetricDefinition, MetricValue
from tests.api.helpers import api_for

pytestmark = pytest.mark.django_db

T = "2026-11-01T09:00:00Z"


def item(**overrides: Any) -> dict[str, Any]:
    return {"account": "ACME-1", "metric": "logins", "value": 42, "observed_at": T, **overrides}


def test_values_are_stored_and_accounts_marked_dirty(
    csm: User, account: Account, logins: MetricDefinition, tickets: MetricDefinition
) -> None:
    response = api_for(csm, "ingest").post(
        "/api/v1/metrics/",
        {"values": [item(), item(metric="tickets", value=3.5), item(observed_at="2026-11-02")]},
    )
    assert response.status_code == 202, response.content
    assert response.json() == {"accepted": 3}
    stored = {
        (v.metric.key, v.observed_at, v.value) for v in MetricValue.objects.select_related("metric")
    }
    assert stored == {
        ("logins", dt.datetime(2026, 11, 1, 9, tzinfo=dt.UTC), 42.0),
        ("tickets", dt.datetime(2026, 11, 1, 9, tzinfo=dt.UTC), 3.5),
        ("logins", dt.datetime(2026, 11, 2, tzinfo=dt.UTC), 42.0),
    }
    assert DirtyAccount.objects.filter(account=account).exists()


def test_resending_is_idempotent_and_the_latest_value_wins(
    csm: User, account: Account, logins: MetricDefinition
) -> None:
    api = api_for(csm, "ingest")
    assert api.post("/api/v1/metrics/", {"values": [item(value=1)]}).status_code == 202
    assert api.post("/api/v1/metrics/", {"values": [item(value=1)]}).status_code == 202
    assert (
        api.post("/api/v1/metrics/", {"values": [item(value=7), item(value=9)]}).status_code == 202
    )
    assert list(MetricValue.objects.values_list("value", flat=True)) == [9.0]
    # The same instant written another way is the same observation.
    assert (
        api.post(
            "/api/v1/metrics/",
            {"values": [item(observed_at="2026-11-01T10:00:00+01:00", value=11)]},
        ).status_code
        == 202
    )
    assert list(MetricValue.objects.values_list("value", flat=True)) == [11.0]


FUTURE = (timezone.now() + dt.timedelta(minutes=30)).isoformat()
NEAR_FUTURE_OK = (timezone.now() + dt.timedelta(minutes=2)).isoformat()


@pytest.mark.parametrize(
    ("bad", "field", "reason"),
    [
        (item(account="NOPE"), "account", "unknown account 'NOPE' (or outside your scope)"),
        (item(account="OTHER-1"), "account", "unknown account 'OTHER-1' (or outside your scope)"),
        (item(account=None), "account", "is missing"),
        (item(account=17), "account", "must be the account's external_id"),
        (item(metric="nope"), "metric", "unknown metric 'nope'"),
        ({k: v for k, v in item().items() if k != "metric"}, "metric", "is missing"),
        (item(value="12"), "value", "must be a JSON number, not str"),
        (item(value="abc"), "value", "must be a JSON number, not str"),
        (item(value=True), "value", "must be a number, not true/false"),
        (item(value=None), "value", "is missing"),
        ({k: v for k, v in item().items() if k != "observed_at"}, "observed_at", "is missing"),
        (item(observed_at="yesterday"), "observed_at", "is not an ISO 8601 date-time"),
        (item(observed_at=1700000000), "observed_at", "must be an ISO 8601 date-time string"),
        (item(observed_at=FUTURE), "observed_at", "is in the future"),
        ("not an object", "item", "must be an object"),
    ],
)
def test_each_bad_item_is_named_and_nothing_is_stored(
    csm: User,
    account: Account,
    other_account: Account,
    logins: MetricDefinition,
    bad: Any,
    field: str,
    reason: str,
) -> None:
    response = api_for(csm, "ingest").post(
        "/api/v1/metrics/", {"values": [item(), item(observed_at="2026-11-03"), bad]}
    )
    # An item naming an unknown account or metric is well-formed: a 409 conflict.
    assert response.status_code == (409 if "unknown" in reason else 400), response.content
    body = response.json()
    assert body["error"] == "1 of 3 items is invalid; nothing was stored."
    assert [(d["index"], d["field"]) for d in body["details"]] == [(2, field)]
    assert reason in body["details"][0]["reason"]
    assert not MetricValue.objects.exists()
    assert not DirtyAccount.objects.exists()


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_nan_and_infinity_are_named_per_item(
    csm: User, account: Account, logins: MetricDefinition, literal: str
) -> None:
    bad = json.dumps(item()).replace("42", literal)
    raw = f'{{"values": [{json.dumps(item())}, {bad}]}}'
    response = api_for(csm, "ingest").post("/api/v1/metrics/", raw=raw)
    assert response.status_code == 400
    assert response.json()["details"] == [
        {
            "index": 1,
            "field": "value",
            "reason": "must be a finite number (NaN and Infinity are not allowed)",
        }
    ]
    assert not MetricValue.objects.exists()


def test_every_bad_item_is_listed_not_just_the_first(
    csm: User, account: Account, logins: MetricDefinition
) -> None:
    values = [item(), item(value="x"), item(), item(account="NOPE", metric="nope")]
    body = api_for(csm, "ingest").post("/api/v1/metrics/", {"values": values}).json()
    assert [(d["index"], d["field"]) for d in body["details"]] == [
        (1, "value"),
        (3, "account"),
        (3, "metric"),
    ]
    assert body["error"] == "2 of 4 items are invalid; nothing was stored."


def test_a_value_two_minutes_ahead_is_accepted(
    csm: User, account: Account, logins: MetricDefinition
) -> None:
    assert (
        api_for(csm, "ingest")
        .post("/api/v1/metrics/", {"values": [item(observed_at=NEAR_FUTURE_OK)]})
        .status_code
        == 202
    )


@pytest.mark.parametrize(
    ("raw", "content_type", "message"),
    [
        ('{"values": [', "application/json", "Malformed JSON"),
        ("values=1", "application/x-www-form-urlencoded", "Unsupported content type"),
        ("account,metric\n", "text/csv", "Unsupported content type"),
        (
            '[{"account": "ACME-1"}]',
            "application/json",
            "The body must be a JSON object with a 'values' list.",
        ),
        (
            '{"items": []}',
            "application/json",
            "The body must be a JSON object with a 'values' list.",
        ),
        (
            '{"values": {"account": "ACME-1"}}',
            "application/json",
            "The body must be an object with a 'values' list.",
        ),
        ('{"values": []}', "application/json", "Nothing to ingest"),
    ],
)
def test_malformed_bodies_are_400(
    csm: User, account: Account, raw: str, content_type: str, message: str
) -> None:
    response = api_for(csm, "ingest").post("/api/v1/metrics/", raw=raw, content_type=content_type)
    assert response.status_code == 400
    assert response.json()["error"].startswith(message)
    assert not MetricValue.objects.exists()


def test_more_than_10000_items_is_refused_whole(
    csm: User, account: Account, logins: MetricDefinition
) -> None:
    values = [item(observed_at=f"2026-01-01T00:00:{i % 60:02d}Z") for i in range(10_001)]
    response = api_for(csm, "ingest").post("/api/v1/metrics/", {"values": values})
    assert response.status_code == 400
    assert response.json()["error"] == "Too many items: 10001; send at most 10000 per request."
    assert not MetricValue.objects.exists()


def test_10000_items_in_one_request_are_accepted(
    csm: User, account: Account, logins: MetricDefinition
) -> None:
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    values = [item(observed_at=(start + dt.timedelta(hours=i)).isoformat()) for i in range(10_000)]
    response = api_for(csm, "ingest").post("/api/v1/metrics/", {"values": values})
    assert response.status_code == 202
    assert MetricValue.objects.count() == 10_000


def test_ingest_needs_authentication(client: Any) -> None:
    response = client.post("/api/v1/metrics/", {"values": []}, content_type="application/json")
    assert response.status_code == 401
