from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import Account, User
from accounts.selectors.access import visible_accounts
from tests.conftest import client_for
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


def names_on_portfolio(client: Client, query: str = "") -> set[str]:
    response = client.get(f"/portfolio/{query}")
    assert response.status_code == 200
    return {a.name for a in response.context["page"].object_list}


def test_csm_sees_only_their_own_book(
    csm_client: Client, account: Account, teammate_account: Account, other_account: Account
) -> None:
    assert names_on_portfolio(csm_client) == {"Acme Corp"}


def test_manager_sees_their_teams_accounts_but_not_other_teams(
    manager_client: Client, account: Account, teammate_account: Account, other_account: Account
) -> None:
    assert names_on_portfolio(manager_client) == {"Acme Corp", "Teammate Ltd"}


def test_admin_sees_every_account(
    admin_client: Client, account: Account, teammate_account: Account, other_account: Account
) -> None:
    assert names_on_portfolio(admin_client) == {"Acme Corp", "Teammate Ltd", "Other Inc"}


def test_superuser_without_admin_role_counts_as_admin(
    account: Account, other_account: Account
) -> None:
    boss = User.objects.create_user("root", password="x", role="csm", is_superuser=True)
    assert set(visible_accounts(boss)) == {account, other_account}


def test_inactive_user_sees_nothing(csm: User, account: Account) -> None:
    csm.is_active = False
    assert not visible_accounts(csm).exists()


def test_portfolio_requires_login(client: Client) -> None:
    response = client.get("/portfolio/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=/portfolio/")


def test_portfolio_search_matches_name_and_external_id(csm: User, csm_client: Client) -> None:
    AccountFactory(owner=csm, name="Blue Harbor", external_id="BH-7")
    AccountFactory(owner=csm, name="Green Valley", external_id="GV-9")
    assert names_on_portfolio(csm_client, "?q=harbor") == {"Blue Harbor"}
    assert names_on_portfolio(csm_client, "?q=GV-9") == {"Green Valley"}


def test_portfolio_segment_filter(csm: User, csm_client: Client) -> None:
    AccountFactory(owner=csm, name="Small One", segment="SMB")
    AccountFactory(owner=csm, name="Big One", segment="Enterprise")
    assert names_on_portfolio(csm_client, "?segment=Enterprise") == {"Big One"}


def test_portfolio_search_cannot_reach_outside_the_book(
    csm_client: Client, other_account: Account
) -> None:
    assert names_on_portfolio(csm_client, "?q=Other") == set()
    assert names_on_portfolio(csm_client, "?owner=other_csm") == set()


def test_portfolio_paginates_with_links_that_keep_filters(csm: User, csm_client: Client) -> None:
    AccountFactory.create_batch(60, owner=csm, segment="SMB")
    response = csm_client.get("/portfolio/?segment=SMB")
    page = response.context["page"]
    assert len(page.object_list) == 50
    assert page.paginator.count == 60
    assert 'href="?segment=SMB&amp;page=2"' in response.content.decode()
    second = csm_client.get("/portfolio/?segment=SMB&page=2").context["page"]
    assert len(second.object_list) == 10


def test_htmx_request_gets_only_the_table(csm_client: Client, account: Account) -> None:
    response = csm_client.get("/portfolio/?q=acme", headers={"HX-Request": "true"})
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<div id="portfolio-table"')
    assert "<html" not in body
    assert "Acme Corp" in body


def test_portfolio_empty_state_says_what_to_do(csm_client: Client) -> None:
    body = csm_client.get("/portfolio/").content.decode()
    assert "Your book is empty." in body


def test_bad_page_number_falls_back_to_a_real_page(csm_client: Client, account: Account) -> None:
    response = csm_client.get("/portfolio/?page=abc")
    assert response.status_code == 200
    assert response.context["page"].number == 1


def test_portfolio_queries_do_not_grow_with_rows(
    csm: User, csm_client: Client, django_assert_max_num_queries: object
) -> None:
    AccountFactory.create_batch(50, owner=csm)
    with django_assert_max_num_queries(8):  # type: ignore[operator]
        csm_client.get("/portfolio/")


@pytest.mark.parametrize(
    ("persona", "status"),
    [("csm", 200), ("teammate", 404), ("other_csm", 404), ("manager", 200), ("admin", 200)],
)
def test_account_page_is_404_outside_the_users_scope(
    request: pytest.FixtureRequest, account: Account, persona: str, status: int
) -> None:
    user = request.getfixturevalue(persona)
    response = client_for(user).get(f"/accounts/{account.external_id}/")
    assert response.status_code == status


def test_unknown_account_is_404(csm_client: Client) -> None:
    assert csm_client.get("/accounts/NOPE/").status_code == 404


def test_navigation_shows_only_what_the_role_may_use(csm_client: Client, account: Account) -> None:
    items = [i["name"] for i in csm_client.get("/portfolio/").context["nav_items"]]
    assert "Portfolio" in items
    assert "Imports" not in items and "Team" not in items
