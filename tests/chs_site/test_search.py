"""The global search: accounts (name, domain, external id), contacts (name, email) and
tasks (title), grouped, each in the user's scope; a drop-down for htmx and a full page
that works without JavaScript; a fixed number of queries."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from accounts.models import Account, User
from tests.conftest import client_for
from tests.factories import AccountFactory, ContactFactory, TaskFactory

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}


def found(client: Client, q: str, **headers: str) -> dict[str, list[str]]:
    response = client.get("/search/", {"q": q}, headers=headers)
    assert response.status_code == 200
    return {
        key: [getattr(i, "name", None) or i.title for i in items]
        for key, _, items in response.context["groups"]
    }


@pytest.fixture
def findable(csm: User, account: Account, other_account: Account) -> None:
    account.domain = "harbor.example"
    account.save(update_fields=["domain"])
    ContactFactory.create(account=account, name="Hana Harbor", email="hana@acme.example")
    ContactFactory.create(account=other_account, name="Hank Harbor", email="hank@other.example")
    TaskFactory.create(account=account, title="Harbor renewal call")
    TaskFactory.create(account=other_account, title="Harbor QBR")
    AccountFactory.create(owner=other_account.owner, name="Harbor Freight", external_id="HF-1")


def test_a_csm_finds_accounts_contacts_and_tasks_of_their_own_book_only(
    csm_client: Client, findable: None
) -> None:
    assert found(csm_client, "harbor") == {
        "accounts": ["Acme Corp"],  # by domain
        "contacts": ["Hana Harbor"],
        "tasks": ["Harbor renewal call"],
    }
    assert found(csm_client, "ACME-1")["accounts"] == ["Acme Corp"]  # by external id
    assert found(csm_client, "hana@acme")["contacts"] == ["Hana Harbor"]  # by email
    assert found(csm_client, "HF-1") == {"accounts": [], "contacts": [], "tasks": []}


def test_an_admin_finds_every_book(admin: User, findable: None) -> None:
    results = found(client_for(admin), "harbor")
    assert results["accounts"] == ["Acme Corp", "Harbor Freight"]
    assert results["contacts"] == ["Hana Harbor", "Hank Harbor"]
    assert sorted(results["tasks"]) == ["Harbor QBR", "Harbor renewal call"]  # by due date


def test_the_drop_down_is_a_fragment_with_a_link_to_all_results(
    csm_client: Client, findable: None
) -> None:
    body = csm_client.get("/search/", {"q": "harbor"}, headers=HX).content.decode()
    assert body.lstrip().startswith('<div class="search-results" id="search-results-menu"')
    assert "<html" not in body
    assert 'href="/search/?q=harbor"' in body
    assert 'href="/accounts/ACME-1/"' in body


def test_the_full_page_works_without_javascript(csm_client: Client, findable: None) -> None:
    body = csm_client.get("/search/", {"q": "harbor"}).content.decode()
    assert "<html" in body and 'id="search-results-page"' in body
    assert ">Accounts</h2>" in body and ">Contacts</h2>" in body and ">Tasks</h2>" in body


def test_empty_nothing_found_and_too_long_searches_say_so(csm_client: Client) -> None:
    assert "Type what you are looking for." in csm_client.get("/search/").content.decode()
    nothing = csm_client.get("/search/", {"q": "zzz"}).content.decode()
    assert "Nothing in your scope matches “zzz”." in nothing
    long = csm_client.get("/search/", {"q": "x" * 101})
    assert long.status_code == 400
    assert "Search for at most 100 characters; this has 101." in long.content.decode()
    nul = csm_client.get("/search/", {"q": "a\x00b"})
    assert nul.status_code == 400 and "NUL character" in nul.content.decode()


def test_every_page_has_the_search_box_and_the_shortcut_help(csm_client: Client) -> None:
    for url in ("/portfolio/", "/tasks/", "/search/"):
        body = csm_client.get(url).content.decode()
        assert 'id="global-search"' in body and 'action="/search/"' in body
        assert 'id="shortcut-help"' in body and "js/shortcuts.js" in body


def test_search_queries_do_not_grow_with_results(
    csm: User, csm_client: Client, django_assert_max_num_queries: Any
) -> None:
    for i in range(30):
        account = AccountFactory.create(owner=csm, name=f"Harbor {i}")
        ContactFactory.create(account=account, name=f"Harbor person {i}")
        TaskFactory.create(account=account, title=f"Harbor task {i}")
    # session, user, notifications, then one query per group.
    with django_assert_max_num_queries(7):
        response = csm_client.get("/search/", {"q": "harbor"})
    assert [len(items) for _, _, items in response.context["groups"]] == [30, 30, 30]
    with django_assert_max_num_queries(7):
        csm_client.get("/search/", {"q": "harbor"}, headers=HX)


def test_a_managers_search_adds_only_the_team_lookups(
    csm: User, manager: User, django_assert_max_num_queries: Any
) -> None:
    for i in range(30):
        account = AccountFactory.create(owner=csm, name=f"Harbor {i}")
        ContactFactory.create(account=account, name=f"Harbor person {i}")
        TaskFactory.create(account=account, title=f"Harbor task {i}")
    client = client_for(manager)
    # As a CSM's, plus the team's ids that each group's scope looks up first.
    with django_assert_max_num_queries(10):
        response = client.get("/search/", {"q": "harbor"})
    assert [len(items) for _, _, items in response.context["groups"]] == [30, 30, 30]
