"""The CSV import framework (accounts/imports): suggested and remembered mappings, reading
files, whole-file validation, all-or-nothing writes, the user's scope, preview, jobs."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from accounts.imports.jobs import check_mapping, preview, run_import, start_import, update_mapping
from accounts.models import Account, ImportJob, ImportMapping, User
from chs_site.errors import ApplicationError, ValidationFailed
from scoring.models import MetricDefinition, MetricValue
from tests.accounts.imports.helpers import run, upload

pytestmark = pytest.mark.django_db


def test_mapping_is_suggested_from_the_header(admin: User) -> None:
    job = upload(
        admin, "metrics_long", "Account ID,Metric,Value,Date\nACME-1,logins,3,2026-01-01\n"
    )
    assert job.header == ["Account ID", "Metric", "Value", "Date"]
    assert job.mapping["fields"] == {
        "account": "Account ID",
        "metric": "Metric",
        "value": "Value",
        "observed_at": "Date",
    }
    assert check_mapping(job.kind, job.header, job.mapping) == []


def test_semicolon_files_and_a_bom_are_understood(admin: User) -> None:
    job = upload(admin, "accounts", "\ufeffexternal_id;name\nA-1;Alpha\n")
    assert job.header == ["external_id", "name"] and job.mapping["delimiter"] == ";"


def test_the_mapping_used_last_time_is_remembered_per_kind(
    admin: User, account: Account, logins: MetricDefinition
) -> None:
    job = upload(admin, "metrics_long", "who,what,how much,when\nACME-1,logins,3,2026-01-01\n")
    assert check_mapping(job.kind, job.header, job.mapping)  # nothing matched by name
    update_mapping(
        job=job,
        mapping={
            "fields": {
                "account": "who",
                "metric": "what",
                "value": "how much",
                "observed_at": "when",
            }
        },
    )
    assert run(job, admin).status == "succeeded"
    assert ImportMapping.objects.get(kind="metrics_long").mapping["fields"]["account"] == "who"
    again = upload(admin, "metrics_long", "who,what,how much,when\n")
    assert again.mapping["fields"] == {
        "account": "who",
        "metric": "what",
        "value": "how much",
        "observed_at": "when",
    }


def test_one_bad_row_among_10000_imports_nothing_and_names_the_row(
    admin: User, account: Account, logins: MetricDefinition
) -> None:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["account", "metric", "value", "observed_at"])
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    for i in range(10_000):
        value = "twelve" if i == 6_789 else str(i)
        writer.writerow(["ACME-1", "logins", value, (start + dt.timedelta(hours=i)).isoformat()])
    job = run(upload(admin, "metrics_long", out.getvalue()), admin)
    assert job.status == "failed"
    assert job.error_count == 1
    assert job.errors == [{"line": 6_791, "column": "value", "reason": "'twelve' is not a number"}]
    assert job.message.startswith("1 bad row in 10000 — nothing was imported")
    assert not MetricValue.objects.exists()
    with job.errors_file.open("r") as f:
        assert f.read().splitlines() == [
            "line,column,reason",
            "6791,value,'twelve' is not a number",
        ]


def test_manager_imports_only_within_their_team(
    manager: User, account: Account, other_account: Account, logins: MetricDefinition
) -> None:
    job = run(
        upload(
            manager,
            "metrics_long",
            "account,metric,value,observed_at\nACME-1,logins,1,2026-01-01\nOTHER-1,logins,1,2026-01-01\n",
        ),
        manager,
    )
    assert job.status == "failed"
    assert job.errors == [
        {
            "line": 3,
            "column": "account",
            "reason": "unknown account 'OTHER-1' (or outside your scope)",
        }
    ]


def test_preview_shows_first_rows_with_their_errors(
    admin: User, account: Account, logins: MetricDefinition
) -> None:
    job = upload(
        admin,
        "metrics_long",
        "account,metric,value,observed_at\nACME-1,logins,1,2026-01-01\nACME-1,logins,x,2026-01-01\n",
    )
    rows = preview(job=job, user=admin)
    assert [(r.line, r.errors) for r in rows] == [(2, []), (3, [("value", "'x' is not a number")])]


def test_unusable_files_are_refused_at_upload(admin: User) -> None:
    with pytest.raises(ApplicationError, match="empty"):
        upload(admin, "accounts", "")
    with pytest.raises(ApplicationError, match="UTF-8"):
        from django.core.files.base import ContentFile

        from accounts.imports.jobs import create_import_job

        create_import_job(
            user=admin, kind="accounts", upload=ContentFile(b"\xff\xfe\x00name", name="x.csv")
        )
    with pytest.raises(ApplicationError, match="unique"):
        upload(admin, "accounts", "name,name\n")


def test_incomplete_mapping_cannot_start(admin: User) -> None:
    job = upload(admin, "metrics_long", "a,b\n1,2\n")
    with pytest.raises(ValidationFailed) as info:
        start_import(job=job, user=admin)
    assert {e["field"] for e in info.value.errors} == {"account", "metric", "value", "observed_at"}
    assert ImportJob.objects.get(pk=job.pk).status == "uploaded"


def test_a_second_delivery_of_the_task_does_nothing(
    admin: User, account: Account, logins: MetricDefinition
) -> None:
    job = run(
        upload(
            admin, "metrics_long", "account,metric,value,observed_at\nACME-1,logins,1,2026-01-01\n"
        ),
        admin,
    )
    assert job.status == "succeeded"
    assert run_import(job_id=job.pk) is None


def test_csm_cannot_import(csm: User) -> None:
    with pytest.raises(ApplicationError, match="Only admins and managers"):
        upload(csm, "accounts", "external_id,name\n")
