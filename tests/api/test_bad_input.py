"""No input makes the API answer 500: requests Django refuses to read, and bodies that are
well-formed JSON but incomplete, answer in the JSON error shape."""

from __future__ import annotations

import json

import pytest
from django.test import override_settings

from accounts.models import Account, User
from scoring.models import MetricDefinition, Scorecard
from tests.api.helpers import api_for

pytestmark = pytest.mark.django_db

ENDPOINTS = ["/api/v1/metrics/", "/api/v1/accounts/", "/api/v1/feedback/", "/api/v1/outcomes/"]


@pytest.mark.parametrize("url", ENDPOINTS)
@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_a_body_over_the_limit_is_413_in_the_error_shape(admin: User, url: str) -> None:
    item = {"account": "ACME-1", "metric": "logins", "value": 1, "observed_at": "2026-01-01"}
    response = api_for(admin).post(url, {"values": [item] * 100})
    assert response.status_code == 413
    body = response.json()
    assert "larger than the 1000 bytes allowed" in body["error"]
    assert body["details"] == [{"field": "body", "reason": "more than 1000 bytes"}]


@override_settings(DATA_UPLOAD_MAX_NUMBER_FIELDS=10)
def test_too_many_query_parameters_is_400_in_the_error_shape(admin: User) -> None:
    api = api_for(admin)
    query = "&".join(f"p{i}=1" for i in range(50))
    response = api.client.get(f"/api/v1/accounts/?{query}", headers=api._headers())
    assert response.status_code == 400
    assert response.json()["error"] == "The request has more than 10 parameters."


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_a_page_still_answers_a_too_big_body_without_json(admin_client: object) -> None:
    response = admin_client.post(  # type: ignore[attr-defined]
        "/login/", "x=" + "a" * 5000, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 413
    assert response["Content-Type"].startswith("text/html")


def test_patching_a_scorecard_with_a_measure_missing_its_weight_is_400(admin: User) -> None:
    MetricDefinition.objects.create(key="logins", name="Logins")
    api = api_for(admin)
    created = api.post(
        "/api/v1/scorecards/",
        {"name": "Default", "measures": [{"metric": "logins", "weight": 1, "bad": 0, "good": 10}]},
    )
    assert created.status_code == 201, created.content
    card = created.json()["id"]
    response = api.patch(
        f"/api/v1/scorecards/{card}/", {"measures": [{"metric": "logins", "bad": 0, "good": 5}]}
    )
    assert response.status_code == 400
    assert response.json()["details"] == [
        {"field": "measures[0].weight", "reason": "This field is required."}
    ]
    assert Scorecard.objects.get(pk=card).measures.get().good == 10


def test_a_json_body_that_is_not_an_object_is_400(admin: User, account: Account) -> None:
    api = api_for(admin)
    for url in ENDPOINTS:
        response = api.post(url, raw=json.dumps([1, 2]))
        assert response.status_code == 400, (url, response.content)
        assert response.json()["error"]


@pytest.mark.parametrize(
    "url", ["/api/v1/tasks/?status=", "/api/v1/accounts/?band=", "/api/v1/scorecards/?status="]
)
def test_a_blank_choice_filter_is_refused_not_ignored(admin: User, url: str) -> None:
    response = api_for(admin, "read").get(url)
    assert response.status_code == 400, response.content
