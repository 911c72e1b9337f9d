"""``python manage.py recompute_scores [--all | --account EXTERNAL_ID]``.

Without an option it recomputes the accounts marked dirty (what the minute sweep does)."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Account
from scoring.services import recompute


class Command(BaseCommand):
    help = "Recompute health scores: dirty accounts (default), every account, or one account."

    def add_arguments(self, parser: CommandParser) -> None:
        which = parser.add_mutually_exclusive_group()
        which.add_argument("--all", action="store_true", help="Every account, with a progress bar.")
        which.add_argument(
            "--account", metavar="EXTERNAL_ID", help="One account by its external id."
        )
        parser.add_argument("--batch-size", type=int, default=recompute.RECOMPUTE_BATCH)

    def handle(self, *args: Any, **options: Any) -> None:
        start = time.perf_counter()
        if options["account"]:
            account = Account.objects.filter(external_id=options["account"]).first()
            if account is None:
                raise CommandError(f"No account with external id {options['account']!r}.")
            result = recompute.recompute_scores(account_ids=[account.pk])
            account.refresh_from_db()
            score = "no data" if account.computed_score is None else f"{account.computed_score:.1f}"
            self.stdout.write(
                f"{account.external_id} {account.name}: {score} "
                f"({account.computed_band or 'no band'}); "
                f"{'new history row' if result.history_rows else 'unchanged, no new history row'}."
            )
            return
        if options["all"]:
            total = Account.objects.count()
            done = 0

            def progress(n: int) -> None:
                nonlocal done
                done += n
                width = 30
                filled = int(width * done / max(total, 1))
                self.stdout.write(
                    f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} accounts", ending=""
                )
                self.stdout.flush()

            result = recompute.recompute_scores(batch_size=options["batch_size"], progress=progress)
            self.stdout.write("")
        else:
            result = recompute.recompute_dirty_accounts(batch_size=options["batch_size"])
        elapsed = time.perf_counter() - start
        self.stdout.write(
            self.style.SUCCESS(
                f"Recomputed {result.accounts} accounts in {result.batches} batches "
                f"({elapsed:.1f} s): {result.history_rows} new history rows, "
                f"{result.changes} score or band changes (score events for the playbooks)."
            )
        )
