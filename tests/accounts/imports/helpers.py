"""Uploading a CSV and running its import job, as the pages do (shared with scoring's
importer tests)."""

from __future__ import annotations

from django.core.files.base import ContentFile

from accounts.imports.jobs import create_import_job, run_import, start_import
from accounts.models import ImportJob, User


def upload(
    user: User | None, kind: str, text: str, name: str = "data.csv", **options: str
) -> ImportJob:
    """``options``: what the upload form also sends (``number_locale``, ``delimiter`` …)."""
    return create_import_job(
        user=user, kind=kind, upload=ContentFile(text.encode(), name=name), **options
    )


def run(job: ImportJob, user: User | None) -> ImportJob:
    """Start the job; tasks run eagerly in tests, after the (test) transaction 'commits'."""
    start_import(job=job, user=user)
    run_import(job_id=job.pk)  # eager delay_on_commit does not fire inside a test transaction
    job.refresh_from_db()
    return job
