"""``python manage.py seed_demo``: the demo company, every app's part of it in order.

It lives in chs_site (the project, above the three apps) because it runs all of them:
people and accounts first, then metric values, scores and outcomes, then the playbooks."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from accounts import demo as accounts_demo
from connectors import demo as connectors_demo
from playbooks import demo as playbooks_demo
from playbooks.services.firing import process_score_events
from scoring import demo as scoring_demo
from scoring import demo_feedback, demo_outcomes


class Command(BaseCommand):
    help = "Load the demo company (idempotent: a second run changes nothing)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--quiet-logins", action="store_true", help="Do not print demo logins.")

    def handle(self, *args: object, **options: object) -> None:
        today = timezone.localdate()
        steps = (
            ("accounts.demo", accounts_demo.seed),
            ("scoring.demo", scoring_demo.seed),
            ("scoring.demo_segment", scoring_demo.seed_segment),
            ("scoring.demo_outcomes", demo_outcomes.seed),
            ("scoring.demo_feedback", demo_feedback.seed),
        )
        for name, seed in steps:
            self.stdout.write(f"{name}: {json.dumps(seed(today=today))}")
        # The scores just written left score events; the playbooks take them now, before the
        # demo's playbooks exist (as in any history), whether or not a worker is running.
        process_score_events()
        self.stdout.write(f"playbooks.demo: {json.dumps(playbooks_demo.seed(today=today))}")
        self.stdout.write(f"connectors.demo: {json.dumps(connectors_demo.seed(today=today))}")
        if not options["quiet_logins"]:
            self.print_logins()

    def print_logins(self) -> None:
        names = accounts_demo.demo_usernames()
        password = accounts_demo.DEMO_PASSWORD
        self.stdout.write(self.style.SUCCESS(f"Demo logins (password {password!r}):"))
        self.stdout.write(f"  admin:    {', '.join(names['admin'])}")
        self.stdout.write(f"  managers: {', '.join(names['managers'])}")
        self.stdout.write("  CSMs:     csm1 … csm12")
