"""Saved portfolio views: saved from the current query (normalised), personal or shared
with a team its manager leads, one default per user that a bare /portfolio/ opens, and
renamed or deleted only by their owner; a view outside the user's scope is a 404."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from accounts.models import DefaultView, SavedView, Team, User
from accounts.services.saved_views import save_view
from chs_site.errors import Conflict, PermissionDenied, ValidationFailed
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_a_csm_saves_the_current_query_without_page_or_unknown_parameters(
    csm: User, csm_client: Client
) -> None:
    response = csm_client.post(
        "/portfolio/views/",
        {"name": "  Red   renewals ", "query": "page=3&sort=-arr&junk=1&band=red&q="},
    )
    view = SavedView.objects.get(owner=csm)
    assert (view.name, view.query, view.team) == ("Red renewals", "band=red&sort=-arr", None)
    assert response.status_code == 302
    assert response["Location"] == "/portfolio/?band=red&sort=-arr"


def test_the_default_view_opens_a_bare_portfolio_and_view_all_shows_the_whole_book(
    csm: User, csm_client: Client
) -> None:
    csm_client.post("/portfolio/views/", {"name": "Red", "query": "band=red", "make_default": "on"})
    bare = csm_client.get("/portfolio/")
    assert bare.status_code == 302 and bare["Location"] == "/portfolio/?band=red"
    whole = csm_client.get("/portfolio/?view=all")
    assert whole.status_code == 200
    assert whole.context["query"] == ""
    menu = whole.context["saved_views"]
    assert [(v.name, v.is_default) for v in menu] == [("Red", True)]


def test_only_one_default_per_user(csm: User) -> None:
    first = save_view(user=csm, name="A", query="band=red", make_default=True)
    second = save_view(user=csm, name="B", query="band=green", make_default=True)
    assert list(DefaultView.objects.values_list("user_id", "view_id")) == [(csm.pk, second.pk)]
    assert first.pk != second.pk


def test_a_manager_shares_a_view_with_their_team_only(
    manager: User, csm: User, other_csm: User, team: Team, manager_client: Client
) -> None:
    manager_client.post(
        "/portfolio/views/", {"name": "At risk", "query": "band=red", "team": team.pk}
    )
    view = SavedView.objects.get(owner=manager)
    assert view.team == team
    csm_page = client_for(csm).get("/portfolio/?view=all")
    assert [v.name for v in csm_page.context["saved_views"]] == ["At risk"]
    outsider = client_for(other_csm)
    assert outsider.get("/portfolio/?view=all").context["saved_views"] == []
    # Outside the team the view does not exist, whatever the action.
    for action in ("default", "rename", "delete"):
        response = outsider.post(f"/portfolio/views/{view.pk}/", {"action": action, "name": "x"})
        assert response.status_code == 404
    # A teammate may open the portfolio with it, but not rename or delete it.
    member = client_for(csm)
    assert member.post(f"/portfolio/views/{view.pk}/", {"action": "default"}).status_code == 302
    assert DefaultView.objects.get(user=csm).view == view
    assert member.post(f"/portfolio/views/{view.pk}/", {"action": "delete"}).status_code == 404
    assert SavedView.objects.filter(pk=view.pk).exists()


def test_a_csm_cannot_share_a_view(csm: User, team: Team, csm_client: Client) -> None:
    response = csm_client.post(
        "/portfolio/views/", {"name": "Mine", "query": "band=red", "team": team.pk}
    )
    assert response.status_code == 302
    assert not SavedView.objects.exists()
    assert any("Share with" in m and "not saved" in m for m in messages_of(response))
    with pytest.raises(PermissionDenied):
        save_view(user=csm, name="Mine", query="", team=team)


def test_a_manager_cannot_share_with_another_team(manager: User, other_team: Team) -> None:
    with pytest.raises(PermissionDenied):
        save_view(user=manager, name="Theirs", query="", team=other_team)


def test_names_are_required_and_unique_per_owner(csm: User, csm_client: Client) -> None:
    save_view(user=csm, name="Red", query="band=red")
    with pytest.raises(Conflict, match="already have a view named “Red”"):
        save_view(user=csm, name="Red", query="band=green")
    with pytest.raises(ValidationFailed, match="Give the view a name"):
        save_view(user=csm, name="   ", query="band=green")
    response = csm_client.post("/portfolio/views/", {"name": "Red", "query": "band=green"})
    assert any("already have a view named" in m for m in messages_of(response))
    assert SavedView.objects.get().query == "band=red"


def test_the_owner_renames_and_deletes_and_a_deleted_default_opens_the_whole_book(
    csm: User, csm_client: Client
) -> None:
    view = save_view(user=csm, name="Red", query="band=red", make_default=True)
    response = csm_client.post(f"/portfolio/views/{view.pk}/", {"action": "rename", "name": "Hot"})
    assert response.status_code == 302
    view.refresh_from_db()
    assert view.name == "Hot"
    csm_client.post(f"/portfolio/views/{view.pk}/", {"action": "delete"})
    assert not SavedView.objects.exists() and not DefaultView.objects.exists()
    assert csm_client.get("/portfolio/").status_code == 200


def test_an_unknown_action_changes_nothing(csm: User, csm_client: Client) -> None:
    view = save_view(user=csm, name="Red", query="band=red")
    response = csm_client.post(f"/portfolio/views/{view.pk}/", {"action": "explode"})
    assert response.status_code == 302
    assert any("Nothing was changed" in m for m in messages_of(response))
    assert SavedView.objects.filter(pk=view.pk, name="Red").exists()


def test_a_view_shared_with_a_team_the_user_left_no_longer_opens(
    manager: User, csm: User, team: Team, other_team: Team
) -> None:
    view = save_view(user=manager, name="At risk", query="band=red", team=team)
    client = client_for(csm)
    client.post(f"/portfolio/views/{view.pk}/", {"action": "default"})
    csm.team = other_team
    csm.save(update_fields=["team"])
    assert client.get("/portfolio/").status_code == 200  # no redirect to the old default


def test_the_portfolio_with_saved_views_keeps_its_query_count(
    csm: User, csm_client: Client, django_assert_max_num_queries: Any
) -> None:
    for i in range(5):
        save_view(user=csm, name=f"View {i}", query=f"band=red&sort=-arr&q={i}")
    with django_assert_max_num_queries(8):
        response = csm_client.get("/portfolio/?view=all")
    assert len(response.context["saved_views"]) == 5
