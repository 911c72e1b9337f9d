"""/api/v1/accounts/: role scoping, filters, create and update."""

from __future__ import annotations

import datetime as dt

import pytest

from accounts.models import Account, Activity, User
from tests.api.helpers import api_for
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def book(account: Account, teammate_account: Account, other_account: Account) -> None:
    return None


def ids(response: object) -> set[str]:
    assert response.status_code == 200, response.content  # type: ignore[attr-defined]
    return {a["external_id"] for a in response.json()["results"]}  # type: ignore[attr-defined]


def test_each_role_lists_only_its_scope(book: None, csm: User, manager: User, admin: User) -> None:
    assert ids(api_for(csm, "read").get("/api/v1/accounts/")) == {"ACME-1"}
    assert ids(api_for(manager, "read").get("/api/v1/accounts/")) == {"ACME-1", "TEAM-1"}
    assert ids(api_for(admin, "read").get("/api/v1/accounts/")) == {"ACME-1", "TEAM-1", "OTHER-1"}


def test_reading_an_account_outside_ones_scope_is_404(book: None, csm: User, manager: User) -> None:
    csm_api = api_for(csm, "write")
    assert csm_api.get("/api/v1/accounts/ACME-1/").json()["name"] == "Acme Corp"
    for url in ("/api/v1/accounts/TEAM-1/", "/api/v1/accounts/OTHER-1/", "/api/v1/accounts/NOPE/"):
        response = csm_api.get(url)
        assert response.status_code == 404
        assert response.json() == {"error": "Not found (or outside your scope).", "details": []}
    assert csm_api.patch("/api/v1/accounts/TEAM-1/", {"name": "x"}).status_code == 404
    assert api_for(manager, "read").get("/api/v1/accounts/TEAM-1/").status_code == 200
    assert api_for(manager, "read").get("/api/v1/accounts/OTHER-1/").status_code == 404


def test_account_read_shows_health(csm: User, account: Account) -> None:
    account.health_score, account.health_band, account.computed_score = 55.5, "yellow", 50.0
    account.score_change_30d = -4.0
    account.save()
    body = api_for(csm, "read").get("/api/v1/accounts/ACME-1/").json()
    assert body["owner"] == "csm"
    assert body["health"] == {
        "score": 55.5,
        "band": "yellow",
        "computed_score": 50.0,
        "computed_at": None,
        "trend_30d": -4.0,
    }


def test_filters_on_band_segment_owner_and_renewal(admin: User, csm: User, teammate: User) -> None:
    today = dt.date(2026, 6, 1)
    AccountFactory(external_id="A", owner=csm, segment="SMB", red=True, renewal_date=today)
    AccountFactory(
        external_id="B",
        owner=teammate,
        segment="Enterprise",
        green=True,
        renewal_date=today + dt.timedelta(days=60),
    )
    AccountFactory(
        external_id="C",
        owner=csm,
        segment="Enterprise",
        red=True,
        renewal_date=today + dt.timedelta(days=200),
    )
    api = api_for(admin, "read")
    assert ids(api.get("/api/v1/accounts/", {"band": "red"})) == {"A", "C"}
    assert ids(api.get("/api/v1/accounts/", {"segment": "Enterprise"})) == {"B", "C"}
    assert ids(api.get("/api/v1/accounts/", {"owner": "teammate"})) == {"B"}
    assert ids(
        api.get(
            "/api/v1/accounts/", {"renewal_after": "2026-06-02", "renewal_before": "2026-09-01"}
        )
    ) == {"B"}
    bad = api.get("/api/v1/accounts/", {"band": "purple"})
    assert bad.status_code == 400
    assert bad.json()["details"][0]["field"] == "band"


def test_csm_creates_an_account_in_their_own_book(csm: User) -> None:
    api = api_for(csm, "write")  # an ingest key gets 204 and no body (test_permissions.py)
    response = api.post(
        "/api/v1/accounts/",
        {"external_id": "NEW-1", "name": "Newco", "arr": "5000", "segment": "SMB"},
    )
    assert response.status_code == 201, response.content
    assert response.json()["owner"] == "csm"
    account = Account.objects.get(external_id="NEW-1")
    assert account.owner == csm and str(account.arr) == "5000.00"
    assert Activity.objects.filter(account=account, kind="account").count() == 1


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ({"name": "No id"}, "external_id", "This field is required."),
        ({"external_id": "X"}, "name", "This field is required."),
        ({"external_id": "X", "name": "X", "arr": "lots"}, "arr", "A valid number is required."),
        (
            {"external_id": "X", "name": "X", "arr": "-5"},
            "arr",
            "Ensure this value is greater than or equal to 0.",
        ),
        (
            {"external_id": "X", "name": "X", "renewal_date": "soon"},
            "renewal_date",
            "Date has wrong format",
        ),
        (
            {"external_id": "X", "name": "X", "lifecycle_stage": "zombie"},
            "lifecycle_stage",
            '"zombie" is not a valid choice.',
        ),
        (
            {"external_id": "X", "name": "X", "owner": "ghost"},
            "owner",
            "'ghost' is not someone you may assign accounts to",
        ),
        (
            {"external_id": "X", "name": "X", "owner": "other_csm"},
            "owner",
            "'other_csm' is not someone you may assign accounts to",
        ),
        (
            {"external_id": "ACME-1", "name": "Dup"},
            "external_id",
            "'ACME-1' is already taken; PATCH it instead",
        ),
    ],
)
def test_bad_account_input_is_400_and_changes_nothing(
    csm: User, account: Account, other_csm: User, body: dict, field: str, reason: str
) -> None:
    before = Account.objects.count()
    response = api_for(csm, "write").post("/api/v1/accounts/", body)
    # A name that cannot be used (an owner, a taken id) is a 409 conflict, not bad input.
    conflict = field == "owner" or "taken" in reason
    assert response.status_code == (409 if conflict else 400), response.content
    details = response.json()["details"]
    assert any(d["field"] == field and reason in d["reason"] for d in details), details
    assert Account.objects.count() == before


def test_malformed_json_and_wrong_content_type_are_400(csm: User) -> None:
    api = api_for(csm, "write")
    response = api.post("/api/v1/accounts/", raw="{not json")
    assert response.status_code == 400
    assert response.json()["error"].startswith("Malformed JSON")
    response = api.post(
        "/api/v1/accounts/", raw="external_id=X", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400
    assert "application/json" in response.json()["error"]


def test_manager_reassigns_within_team_csm_cannot(
    csm: User, teammate: User, manager: User, account: Account, other_csm: User
) -> None:
    response = api_for(csm, "write").patch("/api/v1/accounts/ACME-1/", {"owner": "teammate"})
    assert response.status_code == 409  # teammate is outside a CSM's assignable people
    response = api_for(manager, "write").patch(
        "/api/v1/accounts/ACME-1/", {"owner": "teammate", "arr": "999"}
    )
    assert response.status_code == 200, response.content
    account.refresh_from_db()
    assert account.owner == teammate and str(account.arr) == "999.00"
    assert Activity.objects.filter(account=account, kind="owner_changed").count() == 1
    response = api_for(manager, "write").patch("/api/v1/accounts/ACME-1/", {"owner": "other_csm"})
    assert response.status_code == 409


def test_external_id_cannot_be_changed_by_patch(csm: User, account: Account) -> None:
    response = api_for(csm, "write").patch(
        "/api/v1/accounts/ACME-1/", {"external_id": "HIJACK", "name": "Acme 2"}
    )
    assert response.status_code == 200
    assert Account.objects.filter(external_id="ACME-1", name="Acme 2").exists()


def test_unknown_api_url_is_a_json_404(csm: User) -> None:
    response = api_for(csm, "read").get("/api/v1/nothing-here/")
    assert response.status_code == 404
    assert response.json()["error"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"arr": "much"}, "arr"),
        ({"renewal_date": "2026-02-30"}, "renewal_date"),
        ({"lifecycle_stage": "zombie"}, "lifecycle_stage"),
        ({"owner": "ghost"}, "owner"),
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
    ],
)
def test_bad_account_updates_are_400_and_change_nothing(
    csm: User, account: Account, body: dict, field: str
) -> None:
    before = Account.objects.values().get(pk=account.pk)
    response = api_for(csm, "write").patch("/api/v1/accounts/ACME-1/", body)
    assert response.status_code == (409 if field == "owner" else 400), response.content
    assert [d["field"] for d in response.json()["details"]] == [field]
    assert Account.objects.values().get(pk=account.pk) == before
    assert not Activity.objects.exists()


def test_account_list_queries_do_not_grow_with_the_page(
    admin: User, django_assert_max_num_queries: object
) -> None:
    AccountFactory.create_batch(30)
    api = api_for(admin, "read")
    with django_assert_max_num_queries(6):  # type: ignore[operator]
        response = api.get("/api/v1/accounts/")
    assert response.json()["count"] == 30
