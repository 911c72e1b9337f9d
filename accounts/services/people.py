"""People: users with a role, and the teams they work in."""

from __future__ import annotations

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import Account, Role, Team, User, owner_sort_name
from accounts.services.audit import Action, ObjectType, record_audit
from chs_site.errors import ApplicationError


@transaction.atomic
def create_user(
    *,
    username: str,
    role: str,
    team_name: str | None = None,
    password: str | None = None,
    email: str = "",
    first_name: str = "",
    last_name: str = "",
) -> User:
    """Create a user with a role. A manager named with a team becomes that team's manager;
    a CSM named with a team joins it. The team is created if it does not exist."""
    username = username.strip()
    if not username:
        raise ApplicationError("A username is required.")
    if role not in Role.values:
        raise ApplicationError(f"Unknown role {role!r}; choose one of {', '.join(Role.values)}.")
    if User.objects.filter(username=username).exists():
        raise ApplicationError(f"A user named {username!r} already exists.")

    user = User(
        username=username,
        role=role,
        email=email,
        first_name=first_name,
        last_name=last_name,
        is_staff=role == Role.ADMIN,
        is_superuser=role == Role.ADMIN,
    )
    if password:
        try:  # the same rules as the password pages (AUTH_PASSWORD_VALIDATORS)
            validate_password(password, user)
        except ValidationError as exc:
            raise ApplicationError("The password is refused: " + " ".join(exc.messages)) from exc
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()

    if team_name:
        team, _ = Team.objects.get_or_create(name=team_name.strip())
        if role == Role.MANAGER:
            if team.manager_id and team.manager_id != user.pk:
                raise ApplicationError(
                    f"Team {team.name!r} already has a manager ({team.manager}); "
                    "reassign it in the admin first."
                )
            team.manager = user
            team.save(update_fields=["manager"])
        else:
            user.team = team
            user.save(update_fields=["team"])
    record_audit(
        action=Action.CREATED,
        object_type=ObjectType.USER,
        obj=user,
        changes={
            "username": [None, user.username],
            "role": [None, user.role],
            "team": [None, team_name.strip() if team_name else None],
            "email": [None, user.email],
            "password": [None, "set" if password else None],
        },
    )
    return user


def sync_owner_sort_names(*, user: User, deleting: bool = False) -> int:
    """After ``user`` was renamed (or before they are deleted, when their accounts become
    unowned): the portfolio's owner sort key on their accounts. One UPDATE; returns the
    number of accounts."""
    key = "" if deleting else owner_sort_name(user)
    return (
        Account.objects.filter(owner=user).exclude(owner_sort_name=key).update(owner_sort_name=key)
    )
