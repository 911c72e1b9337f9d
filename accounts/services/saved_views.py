"""Saved portfolio views: save the current query under a name (personal, or shared with a
team the user manages), rename, delete, and choose the one the portfolio opens with."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.http import QueryDict

from accounts.models import DefaultView, SavedView, Team, User
from accounts.selectors.portfolio import view_query_string
from accounts.selectors.saved_views import shareable_teams, visible_saved_views
from chs_site.errors import Conflict, PermissionDenied, ValidationFailed

NAME_MAX = SavedView._meta.get_field("name").max_length or 80
QUERY_MAX = SavedView._meta.get_field("query").max_length or 1000


def _clean_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise ValidationFailed(
            "Give the view a name.", errors=[{"field": "name", "message": "required"}]
        )
    if len(name) > NAME_MAX:
        raise ValidationFailed(
            f"A view's name has at most {NAME_MAX} characters; this one has {len(name)}.",
            errors=[{"field": "name", "message": "too long"}],
        )
    return name


def _check_team(user: User, team: Team | None) -> None:
    if team is not None and not shareable_teams(user).filter(pk=team.pk).exists():
        raise PermissionDenied("Only a team's manager or an admin shares views with that team.")


def _unique_name_conflict(name: str) -> Conflict:
    return Conflict(
        f"You already have a view named “{name}”; choose another name.",
        errors=[{"field": "name", "message": "already used"}],
    )


@transaction.atomic
def save_view(
    *, user: User, name: str, query: str, team: Team | None = None, make_default: bool = False
) -> SavedView:
    """Save ``query`` (a portfolio query string; unknown parameters and the page number are
    dropped) as a view of ``user``'s."""
    name = _clean_name(name)
    _check_team(user, team)
    normalised = view_query_string(QueryDict(query))
    if len(normalised) > QUERY_MAX:
        raise ValidationFailed(
            f"These filters are too long to save (over {QUERY_MAX} characters); shorten the "
            "search text.",
            errors=[{"field": "query", "message": "too long"}],
        )
    try:
        with transaction.atomic():
            view = SavedView.objects.create(owner=user, name=name, query=normalised, team=team)
    except IntegrityError:
        raise _unique_name_conflict(name) from None
    if make_default:
        set_default_view(user=user, view=view)
    return view


@transaction.atomic
def update_view(*, user: User, view: SavedView, name: str, team: Team | None) -> SavedView:
    """Rename ``view`` and choose whom it is shared with (its owner only)."""
    if view.owner_id != user.pk:
        raise PermissionDenied("Only the person who saved a view changes it.")
    name = _clean_name(name)
    _check_team(user, team)
    if SavedView.objects.filter(owner=user, name=name).exclude(pk=view.pk).exists():
        raise _unique_name_conflict(name)
    view.name, view.team = name, team
    view.save(update_fields=["name", "team"])
    return view


@transaction.atomic
def delete_view(*, user: User, view: SavedView) -> None:
    """Delete ``view`` (its owner only); whoever had it as their default opens the whole book."""
    if view.owner_id != user.pk:
        raise PermissionDenied("Only the person who saved a view deletes it.")
    view.delete()


@transaction.atomic
def set_default_view(*, user: User, view: SavedView | None) -> None:
    """The view ``user``'s portfolio opens with (None: the whole book)."""
    if view is None:
        DefaultView.objects.filter(user=user).delete()
        return
    if not visible_saved_views(user).filter(pk=view.pk).exists():
        raise PermissionDenied("You can only open your portfolio with a view you can see.")
    DefaultView.objects.update_or_create(user=user, defaults={"view": view})
