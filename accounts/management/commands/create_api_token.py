"""``python manage.py create_api_token USERNAME [--scope ingest|read|write] [--name TEXT]``

Prints only the key (so ``KEY=$(python manage.py create_api_token bot)`` works); it is shown
this once and stored hashed."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import ApiToken, User
from accounts.services.audit import Source, audit_origin
from accounts.services.tokens import create_api_token
from chs_site.errors import ApplicationError


class Command(BaseCommand):
    help = "Create an API key for a user and print it (only the key; it is stored hashed)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--scope", default=ApiToken.Scope.INGEST, choices=ApiToken.Scope.values)
        parser.add_argument("--name", default="", help="What the key is for (shown to admins).")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            user = User.objects.get(username=options["username"])
        except User.DoesNotExist:
            raise CommandError(f"No user named {options['username']!r}.") from None
        try:
            with audit_origin(Source.COMMAND, "create_api_token"):
                issued = create_api_token(user=user, scope=options["scope"], name=options["name"])
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(issued.key)
