from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Role
from accounts.services.audit import Source, audit_origin
from accounts.services.people import create_user
from chs_site.errors import ApplicationError


class Command(BaseCommand):
    help = "Create a CHS user with a role (csm, manager or admin), optionally in a team."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--team", help="Team name; created if missing. A manager manages it.")
        parser.add_argument("--password", help="Without it the user cannot log in with a password.")
        parser.add_argument("--email", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            with audit_origin(Source.COMMAND, "create_user"):
                user = create_user(
                    username=str(options["username"]),
                    role=str(options["role"]),
                    team_name=options["team"],
                    password=options["password"],
                    email=str(options["email"]),
                )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        team = f" in team {user.team}" if user.team else ""
        self.stdout.write(self.style.SUCCESS(f"Created {user.role} {user.username}{team}."))
