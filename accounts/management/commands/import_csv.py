"""``python manage.py import_csv KIND FILE [--mapping JSON] [--locale LOCALE] [--as USERNAME]``

Runs the same importer as the /imports/ page, in this process: validates every row, then
writes all of them in one transaction, or nothing. KIND is accounts, metrics_long,
metrics_wide or outcomes. Without ``--mapping`` the columns are matched by name (or the
mapping last used for KIND). ``--mapping`` is JSON, e.g.
``'{"fields": {"account": "Customer", "observed_at": "Day"}, "metrics": {"Logins": "logins"}}'``.
``--locale`` is the locale the file's numbers are written in (en, de, fr, pt_BR…; any
locale Babel knows); without it, ";"-delimited files are read as de, others as en.
Without ``--as`` the import runs with an admin's scope (every account)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.files import File
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.imports import jobs
from accounts.imports.registry import kind_spec, kinds
from accounts.models import User
from accounts.services.audit import Source, audit_origin
from chs_site.errors import ApplicationError


class Command(BaseCommand):
    help = "Import a CSV file (all rows or none) with the same importer as the /imports/ page."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("kind", choices=[k.kind for k in kinds()])
        parser.add_argument("file", type=Path)
        parser.add_argument("--mapping", help="Column mapping as JSON (see the help above).")
        parser.add_argument(
            "--locale",
            dest="number_locale",
            help="The locale the numbers are written in (en: 1,234.5; de: 1.234,5; fr: "
            "1 234,5). Default: de for ';'-delimited files, else en.",
        )
        parser.add_argument("--as", dest="username", help="Import with this user's scope.")

    def handle(self, *args: Any, **options: Any) -> None:
        with audit_origin(Source.COMMAND, "import_csv"):
            self._handle(**options)

    def _handle(self, **options: Any) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        user = None
        if options["username"]:
            user = User.objects.filter(username=options["username"]).first()
            if user is None:
                raise CommandError(f"No user named {options['username']!r}.")
        try:
            mapping = json.loads(options["mapping"]) if options["mapping"] else None
        except json.JSONDecodeError as exc:
            raise CommandError(f"--mapping is not valid JSON: {exc}") from None
        if mapping is not None and not isinstance(mapping, dict):
            raise CommandError('--mapping must be a JSON object like {"fields": {...}}.')
        try:
            with path.open("rb") as fh:
                job = jobs.create_import_job(
                    user=user,
                    kind=options["kind"],
                    upload=File(fh, name=path.name),
                    number_locale=options["number_locale"],
                )
            if mapping is not None:
                merged = {"fields": {**job.mapping.get("fields", {}), **mapping.get("fields", {})}}
                extra = kind_spec(job.kind).extra_columns
                if extra:
                    merged[extra] = mapping.get(extra, job.mapping.get(extra, {}))
                job = jobs.update_mapping(job=job, mapping=merged)
            problems = jobs.check_mapping(job.kind, job.header, job.mapping)
            if problems:
                lines = "\n".join(f"  {p['field']}: {p['reason']}" for p in problems)
                raise CommandError(f"The column mapping is incomplete:\n{lines}")
            jobs.mark_queued(job=job, user=user)
            finished = jobs.run_import(job_id=job.pk)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        if finished is None:  # another process claimed the job we just queued
            raise CommandError("The job was taken by another process.")
        if finished.status != finished.Status.SUCCEEDED:
            for error in finished.errors[:50]:
                self.stderr.write(
                    f"line {error['line']}, column {error['column'] or '-'}: {error['reason']}"
                )
            if finished.error_count > 50:
                self.stderr.write(
                    f"… and {finished.error_count - 50} more (all in the job's error report,"
                    f" {finished.errors_file.name} in the upload storage)."
                )
            raise CommandError(finished.message)
        summary = ", ".join(f"{k} {v}" for k, v in finished.result.items())
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {finished.original_name} (job {finished.pk}, numbers read as "
                f"{finished.number_locale}): {summary}."
            )
        )
