"""POST /api/v1/feedback/ and /api/v1/outcomes/: scoped, validated, idempotent outcomes."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from accounts.models import Account, Activity, Feedback, User
from chs_site.errors import ValidationFailed
from scoring.models import MetricValue, Outcome
from scoring.services.feedback import log_feedback
from tests.api.helpers import api_for

pytestmark = pytest.mark.django_db


def metric_values(account: Account) -> dict[str, float]:
    return dict(MetricValue.objects.filter(account=account).values_list("metric__key", "value"))


def test_nps_answer_becomes_feedback_timeline_and_metric_values(
    csm: User, account: Account
) -> None:
    response = api_for(csm, "write").post(
        "/api/v1/feedback/",
        {
            "account": "ACME-1",
            "kind": "nps",
            "score": 9,
            "sentiment": "positive",
            "text": "Great",
            "occurred_at": "2026-11-01T10:00:00Z",
        },
    )
    assert response.status_code == 201, response.content
    assert response.json()["author"] == "csm"
    feedback = Feedback.objects.get()
    assert (feedback.kind, feedback.score, feedback.author) == ("nps", 9, csm)
    assert Activity.objects.get(feedback=feedback).summary.startswith("NPS answer: 9")
    assert metric_values(account) == {"nps": 9.0, "sentiment": 100.0}


def test_csat_and_negative_sentiment_become_metrics(csm: User, account: Account) -> None:
    log_feedback(user=csm, account=account, kind="csat", score=2, sentiment="negative")
    log_feedback(
        user=csm,
        account=account,
        kind="call",
        sentiment="neutral",
        text="Check-in",
        occurred_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    )
    values = sorted(MetricValue.objects.filter(account=account).values_list("metric__key", "value"))
    assert values == [("csat", 2.0), ("sentiment", 0.0), ("sentiment", 50.0)]


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ({"kind": "nps", "score": 11}, "score", "NPS scores are whole numbers from 0 to 10"),
        ({"kind": "nps", "score": -1}, "score", "NPS scores are whole numbers from 0 to 10"),
        ({"kind": "nps"}, "score", "an NPS answer needs a score"),
        ({"kind": "csat", "score": 0}, "score", "CSAT scores are whole numbers from 1 to 5"),
        ({"kind": "csat", "score": 4.5}, "score", "A valid integer is required."),
        ({"kind": "note", "score": 3}, "score", "only NPS and CSAT answers have a score"),
        ({"kind": "party"}, "kind", '"party" is not a valid choice.'),
        (
            {"kind": "note", "sentiment": "ecstatic"},
            "sentiment",
            '"ecstatic" is not a valid choice.',
        ),
        (
            {"kind": "note", "occurred_at": "2999-01-01T00:00:00Z"},
            "occurred_at",
            "is in the future",
        ),
        ({"kind": "note", "occurred_at": "last week"}, "occurred_at", "Datetime has wrong format"),
        ({"account": None, "kind": "note"}, "account", "This field may not be null."),
    ],
)
def test_bad_feedback_is_400_and_stores_nothing(
    csm: User, account: Account, body: dict[str, Any], field: str, reason: str
) -> None:
    response = api_for(csm, "ingest").post("/api/v1/feedback/", {"account": "ACME-1", **body})
    assert response.status_code == 400, response.content
    details = response.json()["details"]
    assert any(d["field"] == field and reason in d["reason"] for d in details), details
    assert (
        not Feedback.objects.exists()
        and not Activity.objects.exists()
        and not MetricValue.objects.exists()
    )


def test_log_feedback_service_refuses_bad_scores(csm: User, account: Account) -> None:
    with pytest.raises(ValidationFailed) as info:
        log_feedback(user=csm, account=account, kind="csat", score=9)
    assert info.value.errors == [
        {"field": "score", "reason": "CSAT scores are whole numbers from 1 to 5; got 9"}
    ]


def test_feedback_outside_scope_is_404(
    csm: User, manager: User, account: Account, teammate_account: Account, other_account: Account
) -> None:
    assert (
        api_for(csm, "ingest")
        .post("/api/v1/feedback/", {"account": "TEAM-1", "kind": "note"})
        .status_code
        == 404
    )
    assert (
        api_for(manager, "ingest")
        .post("/api/v1/feedback/", {"account": "TEAM-1", "kind": "note"})
        .status_code
        == 204  # stored; an ingest key reads nothing back
    )
    assert (
        api_for(manager, "ingest")
        .post("/api/v1/feedback/", {"account": "OTHER-1", "kind": "note"})
        .status_code
        == 404
    )
    assert Feedback.objects.count() == 1


def test_outcome_is_recorded_once_and_resend_is_idempotent(csm: User, account: Account) -> None:
    api = api_for(csm, "write")
    body = {
        "account": "ACME-1",
        "kind": "renewed",
        "occurred_at": "2026-10-01",
        "arr_change": "5000.00",
        "note": "2y",
    }
    first = api.post("/api/v1/outcomes/", body)
    assert first.status_code == 201, first.content
    again = api.post("/api/v1/outcomes/", body)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert Outcome.objects.count() == 1
    assert Activity.objects.filter(kind="outcome").count() == 1
    changed = api.post("/api/v1/outcomes/", {**body, "arr_change": "6000"})
    assert changed.status_code == 200
    assert str(Outcome.objects.get().arr_change) == "6000.00"
    assert Activity.objects.filter(kind="outcome").count() == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "won"}, "kind"),
        ({"occurred_at": "2999-01-01"}, "occurred_at"),
        ({"occurred_at": "01/10/2026"}, "occurred_at"),
        ({"arr_change": "lots"}, "arr_change"),
        ({"arr_change": "1e20"}, "arr_change"),
        ({"account": ""}, "account"),
    ],
)
def test_bad_outcomes_are_400(
    csm: User, account: Account, body: dict[str, Any], field: str
) -> None:
    base = {
        "account": "ACME-1",
        "kind": "churned",
        "occurred_at": "2026-10-01",
        "arr_change": "-100",
    }
    response = api_for(csm, "ingest").post("/api/v1/outcomes/", {**base, **body})
    assert response.status_code == 400, response.content
    assert [d["field"] for d in response.json()["details"]] == [field]
    assert not Outcome.objects.exists()


def test_outcome_outside_scope_is_404(csm: User, admin: User, other_account: Account) -> None:
    body = {
        "account": "OTHER-1",
        "kind": "churned",
        "occurred_at": "2026-10-01",
        "arr_change": "-100",
    }
    assert api_for(csm, "ingest").post("/api/v1/outcomes/", body).status_code == 404
    assert api_for(admin, "ingest").post("/api/v1/outcomes/", body).status_code == 204
