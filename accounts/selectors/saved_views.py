"""Saved portfolio views a user may open (their own and those shared with their team), and
which one their portfolio opens with. A view outside that scope is a 404, like an account."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404

from accounts.models import DefaultView, Role, SavedView, Team, User


def _teams_of(user: User) -> Q:
    """Teams whose shared views ``user`` sees: the one they belong to and those they manage."""
    return Q(team__manager=user) | (Q(team_id=user.team_id) if user.team_id else Q(pk__in=[]))


def visible_saved_views(user: User) -> QuerySet[SavedView]:
    if not user.is_authenticated or not user.is_active:
        return SavedView.objects.none()
    if user.is_admin:
        return SavedView.objects.filter(Q(owner=user) | Q(team__isnull=False))
    return SavedView.objects.filter(Q(owner=user) | _teams_of(user))


def get_saved_view_for_user(user: User, pk: int) -> SavedView:
    try:
        return visible_saved_views(user).get(pk=pk)
    except SavedView.DoesNotExist:
        raise Http404("No such view.") from None


def get_own_saved_view(user: User, pk: int) -> SavedView:
    """Only the owner renames, shares or deletes a view; to anyone else it does not exist."""
    try:
        return SavedView.objects.get(pk=pk, owner=user)
    except SavedView.DoesNotExist:
        raise Http404("No such view.") from None


def shareable_teams(user: User) -> QuerySet[Team]:
    """Teams ``user`` may share a view with: managers their own teams, admins any team."""
    if user.is_admin:
        return Team.objects.all()
    if user.role == Role.MANAGER:
        return Team.objects.filter(manager=user)
    return Team.objects.none()


def saved_views_menu(user: User) -> list[SavedView]:
    """The views the portfolio lists, each with ``is_default`` (the one a bare /portfolio/
    opens, if the user may still see it): own first, then shared ones, by name. One query."""
    views = visible_saved_views(user).select_related("owner", "team")
    views = views.annotate(
        is_default=Exists(DefaultView.objects.filter(user=user, view=OuterRef("pk")))
    )
    return sorted(views, key=lambda v: (v.owner_id != user.pk, v.name.casefold(), v.pk))
