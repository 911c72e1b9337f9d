"""``python manage.py create_bi_role NAME --password SECRET``

A PostgreSQL login role for BI tools that can read the ``chs_bi`` views and nothing else:
CONNECT on the database, USAGE on the schema, SELECT on its views (also on views later
migrations create there: default privileges), every transaction read-only. Running it
again resets the password and the grants (idempotent). Audited, with the password masked."""

from __future__ import annotations

import getpass
import re
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction

from accounts.services.audit import Action, ObjectType, Source, audit_origin, record_audit
from bi.schema import SCHEMA

# Unquoted PostgreSQL identifier rules, lower case: no quoting surprises in BI tools.
ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class Command(BaseCommand):
    help = "Create (or update) a read-only PostgreSQL role that can SELECT the chs_bi views only."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="The role's name: lower-case letters, digits, _.")
        parser.add_argument(
            "--password", help="Its password (asked for when omitted on a terminal)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["name"]
        if connection.vendor != "postgresql":
            raise CommandError("The BI views exist on PostgreSQL only; set DATABASE_URL.")
        if not ROLE_NAME.fullmatch(name):
            raise CommandError(
                f"{name!r} is not a usable role name: use lower-case letters, digits and _, "
                "starting with a letter or _, at most 63 characters."
            )
        password = options["password"]
        if password is None and sys.stdin.isatty():
            password = getpass.getpass(f"Password for {name}: ")
        if not password:
            raise CommandError("Give the role a password with --password.")
        with audit_origin(Source.COMMAND, "create_bi_role"), transaction.atomic():
            created = self._grant(name, password)
            record_audit(
                action=Action.CREATED if created else Action.UPDATED,
                object_type=ObjectType.BI_ROLE,
                object_id=name,
                label=f"BI role {name}",
                changes={"password": ["" if created else "set", "set"], "schema": [None, SCHEMA]},
            )
        verb = "Created" if created else "Updated"
        self.stdout.write(f"{verb} role {name}: it can read the {SCHEMA} views only.")

    def _grant(self, name: str, password: str) -> bool:
        role = connection.ops.quote_name(name)
        database = connection.ops.quote_name(connection.settings_dict["NAME"])
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [name])
            created = cursor.fetchone() is None
            verb = "CREATE" if created else "ALTER"
            # The password is bound by the client (Django's psycopg cursor quotes it).
            cursor.execute(
                f"{verb} ROLE {role} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
                "NOREPLICATION PASSWORD %s",
                [password],
            )
            for statement in (
                f"ALTER ROLE {role} SET default_transaction_read_only = on",
                f"GRANT CONNECT ON DATABASE {database} TO {role}",
                f"GRANT USAGE ON SCHEMA {SCHEMA} TO {role}",
                f"GRANT SELECT ON ALL TABLES IN SCHEMA {SCHEMA} TO {role}",
                # Views a later schema version creates (migrations run as this same user).
                f"ALTER DEFAULT PRIVILEGES IN SCHEMA {SCHEMA} GRANT SELECT ON TABLES TO {role}",
            ):
                cursor.execute(statement)
        return created
