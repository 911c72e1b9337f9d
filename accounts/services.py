"""Writes for people and accounts. Services validate, authorise where asked, and write in
one transaction; they raise ApplicationError with a message a person can act on."""

from __future__ import annotations

import socket

from django.db import transaction
from django.utils import timezone

from accounts.models import Account, Activity, Role, Team, User, WorkerHeartbeat
from chs_site.errors import ApplicationError, PermissionDenied


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
    return user


def record_worker_heartbeat(*, hostname: str | None = None) -> WorkerHeartbeat:
    hostname = hostname or socket.gethostname()
    beat, _ = WorkerHeartbeat.objects.update_or_create(
        hostname=hostname, defaults={"seen_at": timezone.now()}
    )
    return beat


@transaction.atomic
def reassign_account(*, account: Account, owner: User, actor: User) -> Account:
    """Hand ``account`` to ``owner``. Managers may do it within their team, admins anywhere;
    the new owner must be someone the actor may assign work to. Writes the timeline row in
    the same transaction."""
    from accounts.selectors import can_manage_account, visible_users

    if not can_manage_account(actor, account):
        raise PermissionDenied("Only the team's manager or an admin can change the owner.")
    if not visible_users(actor).filter(pk=owner.pk, role__in=[Role.CSM, Role.MANAGER]).exists():
        raise ApplicationError(
            f"{owner.display_name} is not a CSM or manager in your team; pick someone from it."
        )
    previous = account.owner
    if previous is not None and previous.pk == owner.pk:
        raise ApplicationError(f"{owner.display_name} already owns {account.name}.")
    # Lock the row so two managers reassigning at once leave one consistent history.
    locked = Account.objects.select_for_update().get(pk=account.pk)
    locked.owner = owner
    locked.save(update_fields=["owner", "updated_at"])
    Activity.objects.create(
        account=locked,
        kind=Activity.Kind.OWNER_CHANGED,
        actor=actor,
        occurred_at=timezone.now(),
        summary=(
            f"Owner changed from {previous.display_name if previous else 'nobody'} "
            f"to {owner.display_name}."
        ),
        details={
            "from": previous.username if previous else None,
            "to": owner.username,
        },
    )
    account.owner = owner
    return account
