"""Writes for people and accounts. Services validate, authorise where asked, and write in
one transaction; they raise ApplicationError with a message a person can act on."""

from __future__ import annotations

import socket

from django.db import transaction
from django.utils import timezone

from accounts.models import Role, Team, User, WorkerHeartbeat
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
