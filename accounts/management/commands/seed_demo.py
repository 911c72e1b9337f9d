from __future__ import annotations

import importlib
import json

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from accounts.demo import DEMO_PASSWORD, demo_usernames

# Each app adds its part of the demo in its own ``demo.seed(today=…)``; order matters
# (people and accounts first, then metrics and scores, then playbooks and tasks).
DEMO_STEPS = ("accounts.demo", "scoring.demo", "scoring.demo_outcomes", "playbooks.demo")


class Command(BaseCommand):
    help = "Load the demo company (idempotent: a second run changes nothing)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--quiet-logins", action="store_true", help="Do not print demo logins.")

    def handle(self, *args: object, **options: object) -> None:
        today = timezone.localdate()
        for module_name in DEMO_STEPS:
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as exc:
                if exc.name != module_name:
                    raise
                continue
            created = module.seed(today=today)
            self.stdout.write(f"{module_name}: {json.dumps(created)}")
        if not options["quiet_logins"]:
            self.print_logins()

    def print_logins(self) -> None:
        names = demo_usernames()
        self.stdout.write(self.style.SUCCESS(f"Demo logins (password {DEMO_PASSWORD!r}):"))
        self.stdout.write(f"  admin:    {', '.join(names['admin'])}")
        self.stdout.write(f"  managers: {', '.join(names['managers'])}")
        self.stdout.write("  CSMs:     csm1 … csm12")
