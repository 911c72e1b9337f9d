"""GET /api/v1/scorecards/{id}/backtest/ and POST /api/v1/scorecards/{id}/suggest-weights/."""

from __future__ import annotations

import pytest

from accounts.models import User
from scoring import synthetic
from scoring.models import Outcome, Scorecard
from tests.api.helpers import api_for

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("who", ["admin", "manager", "csm"])
def test_every_role_reads_a_backtest(
    request: pytest.FixtureRequest, who: str, true_card: Scorecard, synth: synthetic.Synthetic
) -> None:
    api = api_for(request.getfixturevalue(who), "read")
    response = api.get(f"/api/v1/scorecards/{true_card.pk}/backtest/", {"lead_days": 90})
    assert response.status_code == 200
    body = response.json()
    assert body["n_outcomes"] == 240 and body["n_churned"] == synth.churned
    assert body["auc"] >= 0.85
    assert set(body["bands"]) >= {"red", "yellow", "green"}
    assert set(body["bands"]["red"]) >= {"accounts", "churned", "churn_rate"}
    assert body["lead_days"] == 90


def test_backtest_bad_lead_days_and_unknown_scorecard(admin: User, true_card: Scorecard) -> None:
    api = api_for(admin, "read")
    bad = api.get(f"/api/v1/scorecards/{true_card.pk}/backtest/", {"lead_days": "soon"})
    assert bad.status_code == 400
    assert "lead_days" in str(bad.json())
    assert api.get("/api/v1/scorecards/999999/backtest/").status_code == 404


def test_admin_gets_suggested_weights_and_can_create_a_draft(
    admin: User, mixed_card: Scorecard
) -> None:
    api = api_for(admin, "write")
    response = api.post(f"/api/v1/scorecards/{mixed_card.pk}/suggest-weights/", {})
    assert response.status_code == 200
    body = response.json()
    assert body["enough_outcomes"] is True
    assert body["auc_suggested"] > body["auc_current"]
    by_metric = {m["metric"]: m for m in body["measures"]}
    assert all(by_metric[k]["suggested_weight"] for k in synthetic.SIGNAL)
    created = api.post(
        f"/api/v1/scorecards/{mixed_card.pk}/suggest-weights/", {"create_draft": True}
    )
    assert created.status_code == 201
    assert Scorecard.objects.filter(pk=created.json()["draft"]["id"], status="draft").exists()


@pytest.mark.parametrize("who", ["manager", "csm"])
def test_only_admins_may_ask_for_suggested_weights(
    request: pytest.FixtureRequest, who: str, true_card: Scorecard
) -> None:
    api = api_for(request.getfixturevalue(who), "write")
    assert api.post(f"/api/v1/scorecards/{true_card.pk}/suggest-weights/", {}).status_code == 403


def test_too_few_outcomes_is_said_plainly(admin: User, true_card: Scorecard) -> None:
    Outcome.objects.filter(kind=Outcome.Kind.CHURNED).exclude(
        pk__in=Outcome.objects.filter(kind=Outcome.Kind.CHURNED).values("pk")[:10]
    ).delete()
    api = api_for(admin, "write")
    response = api.post(f"/api/v1/scorecards/{true_card.pk}/suggest-weights/", {})
    assert response.status_code == 200
    body = response.json()
    assert body["enough_outcomes"] is False
    assert body["measures"] == [] and body["auc_suggested"] is None
    assert "Too few outcomes" in body["message"] and "10 churned" in body["message"]


def test_schema_documents_the_endpoints(admin_client: object) -> None:
    schema = admin_client.get("/api/schema/", {"format": "json"})  # type: ignore[attr-defined]
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/scorecards/{id}/backtest/" in paths
    assert "/api/v1/scorecards/{id}/suggest-weights/" in paths
