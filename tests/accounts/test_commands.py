from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from accounts.models import Role, Team, User

pytestmark = pytest.mark.django_db


def test_create_user_with_role_and_team() -> None:
    call_command(
        "create_user",
        "jane",
        "--role",
        "csm",
        "--team",
        "Atlas",
        "--password",
        "s3cret-pw-for-jane",
    )
    jane = User.objects.get(username="jane")
    assert jane.role == Role.CSM
    assert jane.team and jane.team.name == "Atlas"
    assert jane.check_password("s3cret-pw-for-jane")


def test_create_manager_manages_the_named_team() -> None:
    call_command("create_user", "boss", "--role", "manager", "--team", "Beacon")
    assert Team.objects.get(name="Beacon").manager == User.objects.get(username="boss")


def test_create_admin_is_superuser() -> None:
    call_command("create_user", "root", "--role", "admin", "--password", "a-root-passphrase")
    root = User.objects.get(username="root")
    assert root.is_superuser and root.is_staff and root.is_admin


def test_create_user_refuses_a_weak_password_with_the_rules_it_breaks() -> None:
    with pytest.raises(CommandError, match="too short.*too common") as refused:
        call_command("create_user", "jane", "--role", "csm", "--password", "password")
    assert "at least 12 characters" in str(refused.value)
    assert not User.objects.filter(username="jane").exists()


def test_create_user_refuses_a_duplicate_with_a_clear_message() -> None:
    call_command("create_user", "jane", "--role", "csm")
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_user", "jane", "--role", "csm")


def test_create_user_refuses_an_unknown_role() -> None:
    with pytest.raises(CommandError, match="invalid choice"):
        call_command("create_user", "jane", "--role", "boss")
