"""CSV imports: accounts, metric values (long and wide), outcomes.

Two passes over the stored file with ``csv`` streaming, so a file of 200 000 rows never
sits in memory:

1. **validate** every row (progress saved on the job as it goes); every bad row's line,
   column and reason is collected (the first ``MAX_SHOWN_ERRORS`` on the job, all of them in
   a downloadable CSV). Any bad row → the job fails and *nothing* is written.
2. **write** in one transaction, in chunks of ``CHUNK`` rows, through the same services as
   the API (``record_metric_values``, ``record_outcome``, a bulk upsert of accounts).
   Progress of this pass goes to the cache, because the job row's updates inside the
   transaction are invisible to the page until it commits.

The same importer runs from the page (a Celery task) and from
``python manage.py import_csv KIND FILE [--mapping JSON]``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import math
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import IO, Any

from django.core.cache import cache
from django.core.files.base import File
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts import selectors
from accounts.models import (
    Account,
    ImportJob,
    ImportKind,
    ImportMapping,
    LifecycleStage,
    Role,
    User,
    owner_sort_name,
)
from accounts.services import parse_decimal
from chs_site.errors import ApplicationError, ValidationFailed

log = logging.getLogger(__name__)

CHUNK = 5_000
PROGRESS_EVERY = 5_000
MAX_SHOWN_ERRORS = 1_000
PREVIEW_ROWS = 10
# A job whose worker died is taken over after this long (longer than the task time limit).
STALE_RUN = dt.timedelta(minutes=35)


@dataclass(frozen=True)
class FieldSpec:
    name: str
    label: str
    required: bool = False
    aliases: tuple[str, ...] = ()
    help: str = ""


KIND_FIELDS: dict[str, tuple[FieldSpec, ...]] = {
    ImportKind.ACCOUNTS: (
        FieldSpec(
            "external_id",
            "External id",
            True,
            ("id", "account", "account_id", "crm_id"),
            "The account's id in your CRM; existing accounts are updated.",
        ),
        FieldSpec(
            "name",
            "Name",
            False,
            ("account_name", "company", "company_name"),
            "Required for new accounts.",
        ),
        FieldSpec("domain", "Domain", False, ("website", "url")),
        FieldSpec("segment", "Segment", False, ("tier",)),
        FieldSpec(
            "owner",
            "Owner (username)",
            False,
            ("csm", "owner_username", "username"),
            "A user's username.",
        ),
        FieldSpec("arr", "ARR", False, ("annual_recurring_revenue", "revenue")),
        FieldSpec("renewal_date", "Renewal date", False, ("renewal", "renews_on"), "YYYY-MM-DD."),
        FieldSpec(
            "lifecycle_stage",
            "Lifecycle stage",
            False,
            ("stage", "lifecycle"),
            ", ".join(LifecycleStage.values),
        ),
    ),
    ImportKind.METRICS_LONG: (
        FieldSpec(
            "account",
            "Account (external id)",
            True,
            ("external_id", "account_id", "account_external_id"),
        ),
        FieldSpec("metric", "Metric key", True, ("metric_key", "key")),
        FieldSpec("value", "Value", True, ("val", "amount")),
        FieldSpec(
            "observed_at",
            "Observed at",
            True,
            ("date", "time", "timestamp", "observed", "day"),
            "ISO 8601 date or date-time; UTC when no zone.",
        ),
    ),
    ImportKind.METRICS_WIDE: (
        FieldSpec(
            "account",
            "Account (external id)",
            True,
            ("external_id", "account_id", "account_external_id"),
        ),
        FieldSpec(
            "observed_at",
            "Observed at",
            True,
            ("date", "time", "timestamp", "observed", "day"),
            "ISO 8601 date or date-time; UTC when no zone.",
        ),
    ),
    ImportKind.OUTCOMES: (
        FieldSpec("account", "Account (external id)", True, ("external_id", "account_id")),
        FieldSpec(
            "kind",
            "Outcome",
            True,
            ("outcome", "type"),
            "renewed, churned, expanded or contracted.",
        ),
        FieldSpec("occurred_at", "Date", True, ("date", "occurred_on", "on")),
        FieldSpec(
            "arr_change", "ARR change", False, ("arr_delta", "delta", "amount"), "Defaults to 0."
        ),
        FieldSpec("note", "Note", False, ("notes", "comment")),
    ),
}


def normalise_header(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.strip().lower()).strip("_")


# --- mapping -----------------------------------------------------------------------------


def suggest_mapping(kind: str, header: list[str]) -> dict[str, Any]:
    """A mapping for ``header``: the one remembered for this kind where its columns exist,
    else columns whose name matches a field (or, for wide files, a metric key)."""
    remembered = (
        ImportMapping.objects.filter(kind=kind).values_list("mapping", flat=True).first() or {}
    )
    columns = set(header)
    by_norm = {normalise_header(c): c for c in header}
    fields: dict[str, str] = {}
    for spec in KIND_FIELDS[kind]:
        previous = (remembered.get("fields") or {}).get(spec.name)
        if previous in columns:
            fields[spec.name] = previous
            continue
        for candidate in (spec.name, *spec.aliases):
            if candidate in by_norm:
                fields[spec.name] = by_norm[candidate]
                break
    mapping: dict[str, Any] = {"fields": fields}
    if kind == ImportKind.METRICS_WIDE:
        from scoring.models import MetricDefinition

        used = set(fields.values())
        keys = set(MetricDefinition.objects.values_list("key", flat=True))
        old = remembered.get("metrics") or {}
        metrics = {}
        for column in header:
            if column in used:
                continue
            if old.get(column) in keys:
                metrics[column] = old[column]
            elif normalise_header(column) in keys:
                metrics[column] = normalise_header(column)
            elif column.strip() in keys:
                metrics[column] = column.strip()
        mapping["metrics"] = metrics
    return mapping


def check_mapping(kind: str, header: list[str], mapping: dict[str, Any]) -> list[dict[str, str]]:
    errors = []
    fields = mapping.get("fields") or {}
    for spec in KIND_FIELDS[kind]:
        column = fields.get(spec.name)
        if spec.required and not column:
            errors.append(
                {"field": spec.name, "reason": f"choose the column that holds {spec.label.lower()}"}
            )
        elif column and column not in header:
            errors.append({"field": spec.name, "reason": f"the file has no column {column!r}"})
    if kind == ImportKind.METRICS_WIDE:
        from scoring.models import MetricDefinition

        metrics = mapping.get("metrics") or {}
        if not metrics:
            errors.append({"field": "metrics", "reason": "map at least one column to a metric"})
        known = set(
            MetricDefinition.objects.filter(key__in=metrics.values()).values_list("key", flat=True)
        )
        for column, key in metrics.items():
            if column not in header:
                errors.append({"field": "metrics", "reason": f"the file has no column {column!r}"})
            elif key not in known:
                errors.append(
                    {"field": "metrics", "reason": f"unknown metric {key!r} for column {column!r}"}
                )
    return errors


# --- reading -----------------------------------------------------------------------------


def open_text(fileobj: IO[bytes]) -> io.TextIOWrapper:
    return io.TextIOWrapper(fileobj, encoding="utf-8-sig", newline="")


def sniff_delimiter(sample: str) -> str:
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def read_header(fileobj: IO[bytes]) -> tuple[list[str], str]:
    """The header row and delimiter; ApplicationError when the file is not a usable CSV."""
    text = open_text(fileobj)
    try:
        sample = text.read(64 * 1024)
    except UnicodeDecodeError:
        raise ApplicationError(
            "The file is not UTF-8 text; save it from your spreadsheet as 'CSV UTF-8'."
        ) from None
    finally:
        text.detach()
    first = sample.splitlines()[0] if sample.strip() else ""
    if not first.strip():
        raise ApplicationError("The file is empty; the first line must name the columns.")
    delimiter = sniff_delimiter(sample)
    header = next(csv.reader([first], delimiter=delimiter))
    header = [h.strip() for h in header]
    if any(not h for h in header):
        raise ApplicationError("Every column in the first line needs a name.")
    if len(set(header)) != len(header):
        dup = sorted({h for h in header if header.count(h) > 1})
        raise ApplicationError(f"Column names must be unique; repeated: {', '.join(dup)}.")
    return header, delimiter


def iter_rows(job: ImportJob) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) of each data row, skipping blank lines; streams the file."""
    delimiter = (job.mapping or {}).get("delimiter", ",")
    with job.file.open("rb") as raw:
        text = open_text(raw)
        reader = csv.reader(text, delimiter=delimiter)
        next(reader, None)  # the header
        for cells in reader:
            if not any(cells) or (len(cells) == 1 and not cells[0].strip()):
                continue  # a blank line
            yield reader.line_num, cells


# --- row parsers -------------------------------------------------------------------------

CellErrors = list[tuple[str, str]]  # (column, reason)


class Importer:
    """Parses rows of one kind. ``prepare`` loads lookups once; ``parse`` turns a row into
    an item or cell errors; ``write`` stores a chunk of items (inside the caller's
    transaction) and returns counts."""

    def __init__(
        self, *, kind: str, user: User | None, header: list[str], mapping: dict[str, Any]
    ) -> None:
        self.kind = kind
        self.user = user
        self.header = header
        self.mapping = mapping
        fields = mapping.get("fields") or {}
        self.columns = {name: header.index(col) for name, col in fields.items() if col in header}
        self.labels: dict[str, str] = dict(fields)
        self.now = timezone.now()

    def scope(self) -> QuerySet[Account]:
        return Account.objects.all() if self.user is None else selectors.visible_accounts(self.user)

    def cell(self, cells: list[str], name: str) -> str:
        index = self.columns.get(name)
        if index is None or index >= len(cells):
            return ""
        return cells[index].strip()

    def prepare(self) -> None:
        self.accounts: dict[str, int] = dict(
            self.scope().order_by().values_list("external_id", "pk")
        )

    def account_id(self, cells: list[str], errors: CellErrors, name: str = "account") -> int | None:
        value = self.cell(cells, name)
        if not value:
            errors.append((self.labels[name], "is empty"))
            return None
        found = self.accounts.get(value)
        if found is None:
            errors.append(
                (self.labels[name], f"unknown account {value[:100]!r} (or outside your scope)")
            )
        return found

    def parse(self, cells: list[str]) -> tuple[Any, CellErrors]:
        raise NotImplementedError

    def write(self, items: list[Any]) -> dict[str, int]:
        raise NotImplementedError


class MetricsLongImporter(Importer):
    def prepare(self) -> None:
        from scoring.ingest import FUTURE_TOLERANCE, metric_ids
        from scoring.services import MetricValueIn

        super().prepare()
        self.metrics = metric_ids()
        self.latest_allowed = self.now + FUTURE_TOLERANCE
        self.value_in = MetricValueIn

    def metric_value(
        self,
        cells: list[str],
        errors: CellErrors,
        *,
        column: str,
        raw: str,
        metric_id: int,
        account_id: int | None,
        observed_at: dt.datetime | None,
    ) -> Any:
        from scoring.ingest import parse_number
        from scoring.services import MetricValueIn

        try:
            value = parse_number(raw, allow_text=True)
        except ValueError as exc:
            errors.append((column, str(exc)))
            return None
        if account_id is None or observed_at is None:
            return None
        return MetricValueIn(
            account_id=account_id, metric_id=metric_id, value=value, observed_at=observed_at
        )

    def observed_at(self, cells: list[str], errors: CellErrors) -> dt.datetime | None:
        from scoring.ingest import check_not_future, parse_observed_at

        try:
            when = parse_observed_at(self.cell(cells, "observed_at"))
            check_not_future(when, self.now)
        except ValueError as exc:
            errors.append((self.labels["observed_at"], str(exc)))
            return None
        return when

    def parse(self, cells: list[str]) -> tuple[Any, CellErrors]:
        # The common case, a good row, in a few dictionary lookups; anything unusual goes
        # the careful way below, which accepts exactly the same rows and explains the rest.
        try:
            account_id = self.accounts[cells[self.columns["account"]].strip()]
            metric_id = self.metrics[cells[self.columns["metric"]].strip()]
            value = float(cells[self.columns["value"]])
            when = dt.datetime.fromisoformat(cells[self.columns["observed_at"]].strip())
        except (KeyError, IndexError, ValueError):
            pass
        else:
            if when.tzinfo is None:
                when = when.replace(tzinfo=dt.UTC)
            if math.isfinite(value) and when <= self.latest_allowed:
                return [self.value_in(account_id, metric_id, value, when)], []
        return self.parse_carefully(cells)

    def parse_carefully(self, cells: list[str]) -> tuple[Any, CellErrors]:
        errors: CellErrors = []
        account_id = self.account_id(cells, errors)
        key = self.cell(cells, "metric")
        metric_id = self.metrics.get(key)
        if not key:
            errors.append((self.labels["metric"], "is empty"))
        elif metric_id is None:
            errors.append((self.labels["metric"], f"unknown metric {key[:64]!r}"))
        observed_at = self.observed_at(cells, errors)
        item = self.metric_value(
            cells,
            errors,
            column=self.labels["value"],
            raw=self.cell(cells, "value"),
            metric_id=metric_id or 0,
            account_id=account_id,
            observed_at=observed_at,
        )
        return ([item] if item and not errors else None), errors

    def write(self, items: list[Any]) -> dict[str, int]:
        from scoring.services import record_metric_values

        flat = [v for row in items for v in row]
        record_metric_values(values=flat, source="csv import")
        return {"values": len(flat)}


class MetricsWideImporter(MetricsLongImporter):
    def prepare(self) -> None:
        super().prepare()
        self.metric_columns = [
            (self.header.index(column), column, self.metrics[key])
            for column, key in (self.mapping.get("metrics") or {}).items()
            if column in self.header and key in self.metrics
        ]

    def parse(self, cells: list[str]) -> tuple[Any, CellErrors]:
        errors: CellErrors = []
        account_id = self.account_id(cells, errors)
        observed_at = self.observed_at(cells, errors)
        values = []
        for index, column, metric_id in self.metric_columns:
            raw = cells[index].strip() if index < len(cells) else ""
            if not raw:
                continue  # a blank cell: no value for that metric in this row
            item = self.metric_value(
                cells,
                errors,
                column=column,
                raw=raw,
                metric_id=metric_id,
                account_id=account_id,
                observed_at=observed_at,
            )
            if item is not None:
                values.append(item)
        return (values if not errors else None), errors


class OutcomesImporter(Importer):
    def parse(self, cells: list[str]) -> tuple[Any, CellErrors]:
        from scoring.models import Outcome

        errors: CellErrors = []
        account_id = self.account_id(cells, errors)
        kind = self.cell(cells, "kind").lower()
        if kind not in Outcome.Kind.values:
            errors.append(
                (
                    self.labels["kind"],
                    f"{kind[:30]!r} is not one of {', '.join(Outcome.Kind.values)}",
                )
            )
        raw_date = self.cell(cells, "occurred_at")
        occurred: dt.date | None = None
        try:
            occurred = dt.date.fromisoformat(raw_date[:10]) if raw_date else None
            if occurred is None:
                errors.append((self.labels["occurred_at"], "is empty"))
            elif occurred > self.now.date() + dt.timedelta(days=1):
                errors.append((self.labels["occurred_at"], "is in the future"))
        except ValueError:
            errors.append(
                (self.labels["occurred_at"], f"{raw_date[:30]!r} is not a date (YYYY-MM-DD)")
            )
        change = Decimal(0)
        raw_change = self.cell(cells, "arr_change")
        if raw_change:
            try:
                change = parse_decimal(raw_change)
                if abs(change) >= Decimal("1e12"):
                    raise ValueError(f"{raw_change!r} is too large")
            except ValueError as exc:
                errors.append((self.labels["arr_change"], str(exc)))
        if errors:
            return None, errors
        return (account_id, kind, occurred, change, self.cell(cells, "note")), errors

    def write(self, items: list[Any]) -> dict[str, int]:
        from scoring.services import record_outcome

        accounts = Account.objects.in_bulk([i[0] for i in items])
        for account_id, kind, occurred, change, note in items:
            record_outcome(
                user=self.user,
                account=accounts[account_id],
                kind=kind,
                occurred_at=occurred,
                arr_change=change,
                note=note,
            )
        return {"outcomes": len(items)}


class AccountsImporter(Importer):
    def prepare(self) -> None:
        # external_id → (pk, visible to this user?) for every account: an id that exists
        # outside the user's scope cannot be created again (nor updated by them).
        visible = set(self.scope().order_by().values_list("pk", flat=True)) if self.user else None
        self.existing: dict[str, tuple[int, bool]] = {
            ext: (pk, visible is None or pk in visible)
            for ext, pk in Account.objects.order_by().values_list("external_id", "pk")
        }
        users = (
            User.objects.filter(is_active=True)
            if self.user is None
            else selectors.visible_users(self.user)
        )
        people = list(users.only("pk", "username", "first_name", "last_name"))
        self.owners: dict[str, int] = {u.username: u.pk for u in people}
        self.owner_sort_names: dict[int, str] = {u.pk: owner_sort_name(u) for u in people}
        self.seen: dict[str, int] = {}
        self.line = 0
        self.owner_required = self.user is not None and not self.user.is_admin
        self.update_fields = [
            f
            for f in (
                "name",
                "domain",
                "segment",
                "owner",
                "arr",
                "renewal_date",
                "lifecycle_stage",
            )
            if f in self.columns
        ]

    def parse(self, cells: list[str]) -> tuple[Any, CellErrors]:
        errors: CellErrors = []
        ext = self.cell(cells, "external_id")
        if not ext:
            errors.append((self.labels["external_id"], "is empty"))
        elif len(ext) > 100:
            errors.append((self.labels["external_id"], "is longer than 100 characters"))
        elif ext in self.seen:
            errors.append(
                (
                    self.labels["external_id"],
                    f"{ext!r} appears twice in the file (also line {self.seen[ext]})",
                )
            )
        found = self.existing.get(ext)
        if found is not None and not found[1]:
            errors.append(
                (self.labels["external_id"], f"{ext!r} belongs to an account outside your scope")
            )
        values: dict[str, Any] = {"external_id": ext}
        name = self.cell(cells, "name")
        if "name" in self.columns or found is None:
            if not name:
                errors.append(
                    (self.labels.get("name") or "name", "is empty (new accounts need a name)")
                )
            values["name"] = name[:200]
        for field, limit in (("domain", 200), ("segment", 50)):
            if field in self.columns:
                text = self.cell(cells, field)
                if len(text) > limit:
                    errors.append((self.labels[field], f"is longer than {limit} characters"))
                values[field] = text
        if "owner" in self.columns:
            username = self.cell(cells, "owner")
            if not username:
                if self.owner_required:
                    errors.append((self.labels["owner"], "is empty; name an owner in your team"))
                values["owner_id"] = None
                values["owner_sort_name"] = ""
            elif username not in self.owners:
                errors.append(
                    (
                        self.labels["owner"],
                        f"{username[:60]!r} is not a user you may assign accounts to",
                    )
                )
            else:
                values["owner_id"] = self.owners[username]
                values["owner_sort_name"] = self.owner_sort_names[values["owner_id"]]
        elif found is None and self.owner_required:
            errors.append(("owner", "new accounts need an owner in your team; map an owner column"))
        if "arr" in self.columns:
            raw = self.cell(cells, "arr")
            try:
                arr = parse_decimal(raw) if raw else Decimal(0)
                if arr < 0 or arr >= Decimal("1e12"):
                    raise ValueError(f"{raw!r} must be between 0 and 10^12")
                values["arr"] = arr.quantize(Decimal("0.01"))
            except ValueError as exc:
                errors.append((self.labels["arr"], str(exc)))
        if "renewal_date" in self.columns:
            raw = self.cell(cells, "renewal_date")
            try:
                values["renewal_date"] = dt.date.fromisoformat(raw) if raw else None
            except ValueError:
                errors.append(
                    (self.labels["renewal_date"], f"{raw[:30]!r} is not a date (YYYY-MM-DD)")
                )
        if "lifecycle_stage" in self.columns:
            raw = self.cell(cells, "lifecycle_stage").lower()
            if raw and raw not in LifecycleStage.values:
                errors.append(
                    (
                        self.labels["lifecycle_stage"],
                        f"{raw[:30]!r} is not one of {', '.join(LifecycleStage.values)}",
                    )
                )
            values["lifecycle_stage"] = raw or LifecycleStage.ADOPTION
        if ext and ext not in self.seen:
            self.seen[ext] = self.line
        if errors:
            return None, errors
        return values, errors

    def write(self, items: list[Any]) -> dict[str, int]:
        created = sum(1 for i in items if i["external_id"] not in self.existing)
        update_fields = list(self.update_fields)
        if "owner" in update_fields:
            update_fields.append("owner_sort_name")  # set by parse() with the owner
        Account.objects.bulk_create(
            [Account(**item) for item in items],
            update_conflicts=bool(update_fields),
            ignore_conflicts=not update_fields,
            unique_fields=["external_id"] if update_fields else None,
            update_fields=[*update_fields, "updated_at"] if update_fields else None,
            batch_size=2000,
        )
        return {"created": created, "updated": len(items) - created}


IMPORTERS: dict[str, type[Importer]] = {
    ImportKind.ACCOUNTS: AccountsImporter,
    ImportKind.METRICS_LONG: MetricsLongImporter,
    ImportKind.METRICS_WIDE: MetricsWideImporter,
    ImportKind.OUTCOMES: OutcomesImporter,
}


def importer_for(job: ImportJob, user: User | None) -> Importer:
    importer = IMPORTERS[job.kind](kind=job.kind, user=user, header=job.header, mapping=job.mapping)
    importer.prepare()
    return importer


def _parse(importer: Importer, line: int, cells: list[str]) -> tuple[Any, CellErrors]:
    if isinstance(importer, AccountsImporter):
        importer.line = line
    if "\x00" in "".join(cells):
        return None, [("", "contains a NUL character; the file may not be a text CSV")]
    if len(cells) > len(importer.header):
        return None, [
            ("", f"has {len(cells)} cells but the header has {len(importer.header)} columns")
        ]
    return importer.parse(cells)


# --- services ----------------------------------------------------------------------------


@transaction.atomic
def create_import_job(
    *, user: User | None, kind: str, upload: File, name: str | None = None
) -> ImportJob:
    """Store an uploaded file as a job waiting for its column mapping (suggested now)."""
    if kind not in ImportKind.values:
        raise ApplicationError(
            f"Unknown import kind {kind!r}; choose one of {', '.join(ImportKind.values)}."
        )
    if user is not None and not selectors.can_import(user):
        raise ApplicationError("Only admins and managers may import files.")
    upload.seek(0)
    header, delimiter = read_header(upload)  # type: ignore[arg-type]
    upload.seek(0)
    original = (name or upload.name or "upload.csv").rsplit("/", 1)[-1][:255]
    job = ImportJob(kind=kind, original_name=original, header=header, created_by=user)
    job.mapping = {**suggest_mapping(kind, header), "delimiter": delimiter}
    job.file.save(original, upload, save=False)
    job.save()
    return job


def update_mapping(*, job: ImportJob, mapping: dict[str, Any]) -> ImportJob:
    if job.status != ImportJob.Status.UPLOADED:
        raise ApplicationError("This import has already started; its mapping cannot change.")
    job.mapping = {
        "fields": {k: v for k, v in (mapping.get("fields") or {}).items() if v},
        "metrics": {k: v for k, v in (mapping.get("metrics") or {}).items() if v},
        "delimiter": (job.mapping or {}).get("delimiter", ","),
    }
    if job.kind != ImportKind.METRICS_WIDE:
        job.mapping.pop("metrics")
    job.save(update_fields=["mapping"])
    return job


@dataclass
class PreviewRow:
    line: int
    cells: list[str]
    errors: list[tuple[str, str]]


def preview(*, job: ImportJob, user: User | None, rows: int = PREVIEW_ROWS) -> list[PreviewRow]:
    """The first rows of the file with the validation each would get."""
    if check_mapping(job.kind, job.header, job.mapping):
        return []
    importer = importer_for(job, user)
    out: list[PreviewRow] = []
    try:
        for line, cells in iter_rows(job):
            _, errors = _parse(importer, line, cells)
            out.append(PreviewRow(line=line, cells=cells, errors=errors))
            if len(out) >= rows:
                break
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ApplicationError(f"The file cannot be read as CSV: {exc}") from None
    return out


@transaction.atomic
def mark_queued(*, job: ImportJob, user: User | None) -> ImportJob:
    """Check the mapping, remember it for the kind, and mark the job queued."""
    problems = check_mapping(job.kind, job.header, job.mapping)
    if problems:
        raise ValidationFailed("The column mapping is incomplete.", errors=problems)
    updated = ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.UPLOADED).update(
        status=ImportJob.Status.QUEUED
    )
    if not updated:
        raise ApplicationError("This import has already been started.")
    remembered = {k: v for k, v in job.mapping.items() if k != "delimiter"}
    ImportMapping.objects.update_or_create(
        kind=job.kind, defaults={"mapping": remembered, "updated_by": user}
    )
    job.status = ImportJob.Status.QUEUED
    return job


@transaction.atomic
def start_import(*, job: ImportJob, user: User | None) -> ImportJob:
    """Queue the job for a Celery worker (sent once the transaction commits)."""
    from accounts.tasks import run_import_job

    mark_queued(job=job, user=user)
    run_import_job.delay_on_commit(job.pk)  # type: ignore[attr-defined]
    return job


# A queued job nobody has picked up after this long probably lost its message (the broker
# was down when it was sent); the page then offers to send it again.
STUCK_AFTER = dt.timedelta(minutes=2)


def looks_stuck(job: ImportJob, now: dt.datetime | None = None) -> bool:
    now = now or timezone.now()
    return job.status == ImportJob.Status.QUEUED and job.created_at < now - STUCK_AFTER


def requeue_import(*, job: ImportJob) -> bool:
    """Send a still-queued job's task again. Harmless if the first message does arrive:
    only one run can claim the job."""
    from accounts.tasks import run_import_job

    if not ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.QUEUED).exists():
        return False
    transaction.on_commit(lambda: run_import_job.delay(job.pk))
    return True


def _progress_key(job_id: int) -> str:
    return f"chs:import:{job_id}:written"


def written_so_far(job: ImportJob) -> int:
    if job.status == ImportJob.Status.WRITING:
        return int(cache.get(_progress_key(job.pk)) or 0)
    return job.rows_written


def _claim(job_id: int) -> ImportJob | None:
    """Take the job (a conditional UPDATE: a second delivery of the task does nothing),
    or take over one whose worker died long ago."""
    now = timezone.now()
    claimed = ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.QUEUED).update(
        status=ImportJob.Status.VALIDATING, started_at=now
    )
    if not claimed:
        claimed = ImportJob.objects.filter(
            pk=job_id,
            status__in=[ImportJob.Status.VALIDATING, ImportJob.Status.WRITING],
            started_at__lt=now - STALE_RUN,
        ).update(
            status=ImportJob.Status.VALIDATING, started_at=now, rows_validated=0, rows_written=0
        )
    return ImportJob.objects.select_related("created_by").get(pk=job_id) if claimed else None


class _RowChanged(Exception):
    pass


def run_import(*, job_id: int) -> ImportJob | None:
    """Validate the whole file, then (only if every row is good) write it in one
    transaction. Returns the finished job, or None if another run has it."""
    job = _claim(job_id)
    if job is None:
        return None
    user = job.created_by
    if user is not None and (not user.is_active or not selectors.can_import(user)):
        return _finish(job, failed=True, message=f"{user.username} may no longer import files.")
    try:
        return _run(job, user)
    except Exception as exc:
        log.exception("import %s failed", job.pk)
        return _finish(
            job, failed=True, message=f"The import stopped and nothing was imported: {exc}"
        )


def _run(job: ImportJob, user: User | None) -> ImportJob:
    # Pass 1: validate everything, streaming; write the bad rows to a CSV as we go.
    job.rows_total = _estimate_rows(job)
    job.save(update_fields=["rows_total"])
    # The bad rows go to a temporary file (spilling to disk past 1 MB), not a list.
    with tempfile.SpooledTemporaryFile(
        max_size=1 << 20, mode="w+", newline="", encoding="utf-8"
    ) as errors_out:
        failed = _validate_all(job, user, errors_out)
    if failed is not None:
        return failed
    rows = job.rows_validated

    # Pass 2: write, in one transaction, chunk by chunk.
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.WRITING, rows_validated=rows, rows_total=rows
    )
    job.status = ImportJob.Status.WRITING
    cache.set(_progress_key(job.pk), 0, 3600)
    importer = importer_for(job, user)
    totals: dict[str, int] = {}
    written = 0
    try:
        with transaction.atomic():
            chunk: list[Any] = []
            for line, cells in iter_rows(job):
                item, errors = _parse(importer, line, cells)
                if errors:
                    raise _RowChanged(f"line {line}: {errors[0][1]}")
                chunk.append(item)
                if len(chunk) >= CHUNK:
                    written += _write(importer, chunk, totals)
                    chunk = []
                    cache.set(_progress_key(job.pk), written, 3600)
            if chunk:
                written += _write(importer, chunk, totals)
    except _RowChanged as exc:
        return _finish(
            job,
            failed=True,
            message=f"The data changed while importing ({exc}); nothing was imported. Run it again.",
        )
    cache.delete(_progress_key(job.pk))
    job.rows_written = written
    return _finish(job, failed=False, message="", result={"rows": rows, **totals})


def _validate_all(job: ImportJob, user: User | None, errors_out: IO[str]) -> ImportJob | None:
    """Pass 1. Returns the failed job when any row is bad (or the file unreadable)."""
    importer = importer_for(job, user)
    shown: list[dict[str, Any]] = []
    error_count = rows = 0
    writer = csv.writer(errors_out)
    writer.writerow(["line", "column", "reason"])
    try:
        for line, cells in iter_rows(job):
            rows += 1
            _, errors = _parse(importer, line, cells)
            for column, reason in errors:
                error_count += 1
                writer.writerow([line, _neutralise(column), _neutralise(reason)])
                if len(shown) < MAX_SHOWN_ERRORS:
                    shown.append({"line": line, "column": column, "reason": reason})
            if rows % PROGRESS_EVERY == 0:
                ImportJob.objects.filter(pk=job.pk).update(
                    rows_validated=rows, rows_total=max(rows, job.rows_total)
                )
    except UnicodeDecodeError:
        return _finish(
            job,
            failed=True,
            message=f"The file stops being UTF-8 text after row {rows}; save it as 'CSV UTF-8'. Nothing was imported.",
            rows_validated=rows,
        )
    except csv.Error as exc:
        return _finish(
            job,
            failed=True,
            message=f"The file is not valid CSV after row {rows}: {exc}. Nothing was imported.",
            rows_validated=rows,
        )
    job.rows_total = job.rows_validated = rows
    if rows == 0:
        return _finish(job, failed=True, message="The file has a header but no rows.")
    if not error_count:
        return None
    job.errors = shown
    job.error_count = error_count
    errors_out.seek(0)
    job.errors_file.save(f"errors-{job.pk}.csv", File(errors_out), save=False)
    if error_count <= MAX_SHOWN_ERRORS:
        bad = len({e["line"] for e in shown})
        what = f"{bad} bad row{'s' if bad != 1 else ''}"
    else:
        what = f"{error_count} problems"
    return _finish(
        job,
        failed=True,
        message=f"{what} in {rows} — nothing was imported. Fix them and upload the file again.",
    )


def _write(importer: Importer, chunk: list[Any], totals: dict[str, int]) -> int:
    for key, value in importer.write(chunk).items():
        totals[key] = totals.get(key, 0) + value
    return len(chunk)


def _estimate_rows(job: ImportJob) -> int:
    """Newlines in the file minus the header: the progress bar's denominator (exact unless
    cells hold line breaks; corrected after validation)."""
    count = 0
    with job.file.open("rb") as raw:
        while block := raw.read(1 << 20):
            count += block.count(b"\n")
    return max(count - 1, 0) or 1


def _finish(
    job: ImportJob,
    *,
    failed: bool,
    message: str,
    result: dict | None = None,
    rows_validated: int | None = None,
) -> ImportJob:
    job.status = ImportJob.Status.FAILED if failed else ImportJob.Status.SUCCEEDED
    job.message = message
    job.result = result or {}
    job.finished_at = timezone.now()
    if rows_validated is not None:
        job.rows_validated = rows_validated
    job.save()
    return job


def _neutralise(text: str) -> str:
    """A spreadsheet must not run a formula found in an error message (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def import_jobs_for(user: User) -> QuerySet[ImportJob]:
    return selectors.visible_import_jobs(user).select_related("created_by")


def is_importer(user: User) -> bool:
    return user.is_admin or user.role == Role.MANAGER


@dataclass(frozen=True)
class Progress:
    percent: int
    label: str


def progress(job: ImportJob) -> Progress:
    """Validation is the first half of the bar, writing the second."""
    total = max(job.rows_total, 1)
    status = job.status
    if status == ImportJob.Status.UPLOADED:
        return Progress(0, "Waiting for the column mapping.")
    if status == ImportJob.Status.QUEUED:
        return Progress(0, "Queued; a worker will pick it up in a moment.")
    if status == ImportJob.Status.VALIDATING:
        done = min(job.rows_validated, total)
        return Progress(int(50 * done / total), f"Checking rows: {done:,} of about {total:,}.")
    if status == ImportJob.Status.WRITING:
        done = min(written_so_far(job), total)
        return Progress(50 + int(50 * done / total), f"Writing rows: {done:,} of {total:,}.")
    if status == ImportJob.Status.SUCCEEDED:
        return Progress(100, f"Imported {job.rows_written:,} rows.")
    return Progress(100, "Stopped: nothing was imported.")
