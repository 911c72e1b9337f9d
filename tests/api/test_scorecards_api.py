"""Scorecards over the API (drafts, edits, publishing) and score history."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from accounts.models import Account, User
from scoring.models import MetricDefinition, Score, Scorecard
from tests.api.helpers import api_for

pytestmark = pytest.mark.django_db


def draft_body(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "Default",
        "segment": "",
        "red_below": 40,
        "green_at": 70,
        "measures": [
            {
                "metric": "logins",
                "weight": 2,
                "aggregation": "avg",
                "window_days": 30,
                "bad": 0,
                "good": 100,
            }
        ],
        **overrides,
    }


def test_admin_creates_edits_and_publishes_a_scorecard(
    admin: User, logins: MetricDefinition, tickets: MetricDefinition
) -> None:
    api = api_for(admin, "write")
    created = api.post("/api/v1/scorecards/", draft_body())
    assert created.status_code == 201, created.content
    card = created.json()
    assert (card["status"], card["version"], card["measures"][0]["metric"]) == (
        "draft",
        1,
        "logins",
    )

    edited = api.patch(
        f"/api/v1/scorecards/{card['id']}/",
        {"red_below": 45, "measures": [{"metric": "tickets", "weight": 1, "bad": 10, "good": 0}]},
    )
    assert edited.status_code == 200, edited.content
    assert edited.json()["red_below"] == 45
    assert [m["metric"] for m in edited.json()["measures"]] == ["tickets"]

    published = api.post(f"/api/v1/scorecards/{card['id']}/publish/", {"confirm": True})
    assert published.status_code == 200, published.content
    assert published.json()["status"] == "active"

    # Editing the active version leaves it alone and starts a new draft based on it.
    edited = api.patch(f"/api/v1/scorecards/{card['id']}/", {"green_at": 80})
    assert edited.status_code == 201, edited.content
    new = edited.json()
    assert (new["status"], new["version"], new["based_on"], new["green_at"]) == (
        "draft",
        2,
        card["id"],
        80,
    )
    assert [m["metric"] for m in new["measures"]] == ["tickets"]
    assert Scorecard.objects.get(pk=card["id"]).green_at == 70

    again = api.post(f"/api/v1/scorecards/{card['id']}/publish/", {"confirm": True})
    assert again.status_code == 409
    assert "Only a draft can be published" in again.json()["error"]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"red_below": 80, "green_at": 70}, "red_below"),
        ({"red_below": 120}, "red_below"),
        ({"missing_data": "guess"}, "missing_data"),
        ({"measures": [{"metric": "nope", "weight": 1, "bad": 0, "good": 1}]}, "metric"),
        ({"measures": [{"metric": "logins", "weight": 0, "bad": 0, "good": 1}]}, "weight"),
        ({"measures": [{"metric": "logins", "weight": 1, "bad": 5, "good": 5}]}, "good"),
        (
            {
                "measures": [
                    {"metric": "logins", "weight": 1, "bad": 0, "good": 1, "aggregation": "median"}
                ]
            },
            "measures[0].aggregation",
        ),
        ({"measures": []}, "measures"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_scorecards_are_400_and_store_nothing(
    admin: User, logins: MetricDefinition, overrides: dict, field: str
) -> None:
    response = api_for(admin, "write").post("/api/v1/scorecards/", draft_body(**overrides))
    assert response.status_code == (409 if field == "metric" else 400), response.content
    full = [d["field"] for d in response.json()["details"]]
    named = full + [f.rsplit(".", 1)[-1] for f in full]
    assert field in named, response.json()
    assert not Scorecard.objects.exists()


def test_csm_and_manager_read_scorecards_but_cannot_change_them(
    csm: User, manager: User, admin: User, logins: MetricDefinition
) -> None:
    card = api_for(admin, "write").post("/api/v1/scorecards/", draft_body()).json()
    for user in (csm, manager):
        api = api_for(user, "write")
        assert api.get("/api/v1/scorecards/").json()["results"][0]["id"] == card["id"]
        assert api.get(f"/api/v1/scorecards/{card['id']}/").status_code == 200
        assert api.post("/api/v1/scorecards/", draft_body()).status_code == 403
        assert api.patch(f"/api/v1/scorecards/{card['id']}/", {"name": "x"}).status_code == 403
        assert (
            api.post(f"/api/v1/scorecards/{card['id']}/publish/", {"confirm": True}).status_code
            == 403
        )
        assert api.post("/api/v1/metric-definitions/", {"key": "k", "name": "K"}).status_code == 403
    assert Scorecard.objects.count() == 1
    assert api_for(admin, "read").get("/api/v1/scorecards/999999/").status_code == 404


def test_metric_definitions_list_and_create(
    admin: User, csm: User, logins: MetricDefinition
) -> None:
    api = api_for(admin, "write")
    created = api.post(
        "/api/v1/metric-definitions/", {"key": "seats", "name": "Seats used", "unit": "seats"}
    )
    assert created.status_code == 201
    assert (
        api.post("/api/v1/metric-definitions/", {"key": "seats", "name": "Again"}).status_code
        == 409
    )
    assert (
        api.post("/api/v1/metric-definitions/", {"key": "bad key!", "name": "X"}).status_code == 400
    )
    keys = [
        m["key"] for m in api_for(csm, "read").get("/api/v1/metric-definitions/").json()["results"]
    ]
    assert keys == ["logins", "seats"]


def test_score_history_is_newest_first_with_breakdown_and_scoped(
    csm: User, manager: User, other_csm: User, account: Account, logins: MetricDefinition
) -> None:
    card = Scorecard.objects.create(name="Default", status="active")
    breakdown = [
        {
            "metric": "logins",
            "name": "Logins",
            "aggregation": "avg",
            "window_days": 30,
            "value": 50.0,
            "points": 50.0,
            "weight": 1.0,
            "contribution": 50.0,
            "stale": False,
        }
    ]
    t = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    Score.objects.create(
        account=account,
        scorecard=card,
        score=40.0,
        band="yellow",
        computed_at=t,
        breakdown=breakdown,
    )
    Score.objects.create(
        account=account,
        scorecard=card,
        score=50.0,
        band="yellow",
        computed_at=t + dt.timedelta(days=1),
        breakdown=breakdown,
    )
    body = api_for(csm, "read").get("/api/v1/accounts/ACME-1/scores/").json()
    assert [s["score"] for s in body["results"]] == [50.0, 40.0]
    assert body["results"][0]["breakdown"] == breakdown
    assert body["results"][0]["scorecard_version"] == 1
    assert api_for(manager, "read").get("/api/v1/accounts/ACME-1/scores/").status_code == 200
    assert api_for(other_csm, "read").get("/api/v1/accounts/ACME-1/scores/").status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "No key"}, "key"),
        ({"key": "has space", "name": "X"}, "key"),
        ({"key": "k", "name": ""}, "name"),
        ({"key": "k", "name": "K", "direction": "sideways"}, "direction"),
    ],
)
def test_bad_metric_definitions_are_400(admin: User, body: dict, field: str) -> None:
    response = api_for(admin, "write").post("/api/v1/metric-definitions/", body)
    assert response.status_code == 400
    assert [d["field"] for d in response.json()["details"]] == [field]
    assert not MetricDefinition.objects.exists()


def test_editing_a_draft_with_bad_values_changes_nothing(
    admin: User, logins: MetricDefinition
) -> None:
    api = api_for(admin, "write")
    card = api.post("/api/v1/scorecards/", draft_body()).json()
    for body, field in (
        ({"green_at": 10}, "red_below"),
        ({"segment": "Enterprise"}, "segment"),
        ({"measures": [{"metric": "nope", "weight": 1, "bad": 0, "good": 1}]}, "metric"),
    ):
        response = api.patch(f"/api/v1/scorecards/{card['id']}/", body)
        assert response.status_code == (409 if field in ("metric", "segment") else 400), (
            response.content
        )
        assert field in [d["field"] for d in response.json()["details"]]
    fresh = api.get(f"/api/v1/scorecards/{card['id']}/").json()
    assert (fresh["green_at"], fresh["segment"], fresh["measures"][0]["metric"]) == (
        70,
        "",
        "logins",
    )
    assert Scorecard.objects.count() == 1
