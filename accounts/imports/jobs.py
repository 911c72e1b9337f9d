"""Import jobs: the services behind the imports pages, the Celery task and the
``import_csv`` command (upload, mapping, preview, queue, run, progress)."""

from __future__ import annotations

import csv
import datetime as dt
import logging
import tempfile
from dataclasses import dataclass
from typing import IO, Any

from django.core.cache import cache
from django.core.files.base import File
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.imports.importer import CellErrors, Importer
from accounts.imports.reading import (
    default_number_locale,
    iter_rows,
    normalise_header,
    read_header,
)
from accounts.imports.registry import kind_spec
from accounts.models import ImportJob, ImportMapping, User
from accounts.selectors.access import can_import, visible_import_jobs
from accounts.services.audit import Action, ObjectType, record_audit
from accounts.services.outbox import Topic, record_outbox_events
from chs_site.celery import send_on_commit
from chs_site.errors import ApplicationError, ValidationFailed
from chs_site.formatting import neutralise_csv_cell
from chs_site.parsing import normalise_locale

log = logging.getLogger(__name__)

CHUNK = 5_000
PROGRESS_EVERY = 5_000
MAX_SHOWN_ERRORS = 1_000
PREVIEW_ROWS = 10
# A job whose worker died is taken over after this long (longer than the task time limit).
STALE_RUN = dt.timedelta(minutes=35)


def suggest_mapping(kind: str, header: list[str]) -> dict[str, Any]:
    """A mapping for ``header``: the one remembered for this kind where its columns exist,
    else columns whose name matches a field (and the importer's own suggestion for the
    columns beyond its fields)."""
    spec = kind_spec(kind)
    remembered = (
        ImportMapping.objects.filter(kind=kind).values_list("mapping", flat=True).first() or {}
    )
    columns = set(header)
    by_norm = {normalise_header(c): c for c in header}
    fields: dict[str, str] = {}
    for field in spec.fields:
        previous = (remembered.get("fields") or {}).get(field.name)
        if previous in columns:
            fields[field.name] = previous
            continue
        for candidate in (field.name, *field.aliases):
            if candidate in by_norm:
                fields[field.name] = by_norm[candidate]
                break
    mapping: dict[str, Any] = {"fields": fields}
    if spec.extra_columns:
        mapping[spec.extra_columns] = spec.importer.suggest_extra_columns(  # type: ignore[attr-defined]
            header, set(fields.values()), remembered.get(spec.extra_columns) or {}
        )
    return mapping


def check_mapping(kind: str, header: list[str], mapping: dict[str, Any]) -> list[dict[str, str]]:
    spec = kind_spec(kind)
    errors = []
    fields = mapping.get("fields") or {}
    for field in spec.fields:
        column = fields.get(field.name)
        if field.required and not column:
            errors.append(
                {
                    "field": field.name,
                    "reason": f"choose the column that holds {field.label.lower()}",
                }
            )
        elif column and column not in header:
            errors.append({"field": field.name, "reason": f"the file has no column {column!r}"})
    if spec.extra_columns:
        errors += spec.importer.check_extra_columns(  # type: ignore[attr-defined]
            header, mapping.get(spec.extra_columns) or {}
        )
    return errors


def importer_for(job: ImportJob, user: User | None) -> Importer:
    importer = kind_spec(job.kind).importer(
        kind=job.kind,
        user=user,
        header=job.header,
        mapping=job.mapping,
        number_locale=job.number_locale,
    )
    importer.prepare()
    return importer


def _parse(importer: Importer, line: int, cells: list[str]) -> tuple[Any, CellErrors]:
    importer.line = line
    if "\x00" in "".join(cells):
        return None, [("", "contains a NUL character; the file may not be a text CSV")]
    if len(cells) > len(importer.header):
        return None, [
            ("", f"has {len(cells)} cells but the header has {len(importer.header)} columns")
        ]
    return importer.parse(cells)


def _number_locale(identifier: str) -> str:
    try:
        return normalise_locale(identifier)
    except ValueError as exc:
        raise ApplicationError(f"Number format: {exc}.") from None


@transaction.atomic
def create_import_job(
    *,
    user: User | None,
    kind: str,
    upload: File,
    name: str | None = None,
    number_locale: str | None = None,
) -> ImportJob:
    """Store an uploaded file as a job waiting for its column mapping (suggested now).
    ``number_locale``: the locale its numbers are written in; None: the delimiter's."""
    kind_spec(kind)  # an unknown kind is refused before anything is stored
    if user is not None and not can_import(user):
        raise ApplicationError("Only admins and managers may import files.")
    locale = _number_locale(number_locale) if number_locale else None
    upload.seek(0)
    header, delimiter = read_header(upload)  # type: ignore[arg-type]
    upload.seek(0)
    original = (name or upload.name or "upload.csv").rsplit("/", 1)[-1][:255]
    job = ImportJob(
        kind=kind,
        original_name=original,
        header=header,
        created_by=user,
        number_locale=locale or default_number_locale(delimiter),
    )
    job.mapping = {**suggest_mapping(kind, header), "delimiter": delimiter}
    job.file.save(original, upload, save=False)
    job.save()
    return job


def update_mapping(
    *, job: ImportJob, mapping: dict[str, Any], number_locale: str | None = None
) -> ImportJob:
    """The columns' mapping and (when given) the locale the numbers are read in."""
    if job.status != ImportJob.Status.UPLOADED:
        raise ApplicationError("This import has already started; its mapping cannot change.")
    if number_locale:
        job.number_locale = _number_locale(number_locale)
    job.mapping = {
        "fields": {k: v for k, v in (mapping.get("fields") or {}).items() if v},
        "delimiter": (job.mapping or {}).get("delimiter", ","),
    }
    extra = kind_spec(job.kind).extra_columns
    if extra:
        job.mapping[extra] = {k: v for k, v in (mapping.get(extra) or {}).items() if v}
    job.save(update_fields=["mapping", "number_locale"])
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
    record_audit(
        action=Action.STARTED,
        object_type=ObjectType.IMPORT,
        obj=job,
        label=f"{job.original_name} ({job.kind})",
        actor=user,
        changes={"status": [ImportJob.Status.UPLOADED, ImportJob.Status.QUEUED]},
    )
    return job


@transaction.atomic
def start_import(*, job: ImportJob, user: User | None) -> ImportJob:
    """Queue the job for a Celery worker (sent once the transaction commits)."""
    from accounts.tasks import run_import_job

    mark_queued(job=job, user=user)
    send_on_commit(run_import_job, job.pk)
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
    send_on_commit(run_import_job, job.pk)
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
    if user is not None and (not user.is_active or not can_import(user)):
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
                writer.writerow([line, neutralise_csv_cell(column), neutralise_csv_cell(reason)])
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
    with transaction.atomic():
        job.save()
        record_outbox_events(
            topic=Topic.IMPORT_FINISHED, items=[(None, job.pk)], at=job.finished_at
        )
        record_audit(
            action=Action.FINISHED,
            object_type=ObjectType.IMPORT,
            obj=job,
            label=f"{job.original_name} ({job.kind})",
            actor=job.created_by,
            changes={
                "status": [None, job.status],
                "error_count": [None, job.error_count],
                **{k: [None, v] for k, v in job.result.items()},
            },
        )
    return job


def import_jobs_for(user: User) -> QuerySet[ImportJob]:
    return visible_import_jobs(user).select_related("created_by")


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
