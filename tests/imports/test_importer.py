"""The CSV importer: suggested mappings, whole-file validation, all-or-nothing writes."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from accounts.imports.jobs import check_mapping, preview, run_import, start_import, update_mapping
from accounts.models import Account, Activity, ImportJob, ImportMapping, User
from chs_site.errors import ApplicationError, ValidationFailed
from scoring.models import DirtyAccount, MetricDefinition, MetricValue, Outcome
from tests.imports.conftest import upload

pytestmark = pytest.mark.django_db


def run(job: ImportJob, user: User | None) -> ImportJob:
    """Start the job; tasks run eagerly in tests, after the (test) transaction 'commits'."""
    start_import(job=job, user=user)
    run_import(job_id=job.pk)  # eager delay_on_commit does not fire inside a test transaction
    job.refresh_from_db()
    return job


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


def test_long_metrics_import_writes_values_and_marks_accounts_dirty(
    admin: User, account: Account, logins: MetricDefinition, tickets: MetricDefinition
) -> None:
    job = upload(
        admin,
        "metrics_long",
        "account,metric,value,observed_at\nACME-1,logins,3,2026-01-01\nACME-1,tickets,1.5,2026-01-01T10:00:00Z\nACME-1,logins,4,2026-01-01\n",
    )
    job = run(job, admin)
    assert job.status == "succeeded", job.message
    assert job.result == {"rows": 3, "values": 3}
    assert job.rows_written == 3
    assert sorted(MetricValue.objects.values_list("metric__key", "value")) == [
        ("logins", 4.0),
        ("tickets", 1.5),
    ]
    assert DirtyAccount.objects.filter(account=account).exists()


def test_wide_metrics_import_maps_columns_to_metrics(
    admin: User, account: Account, logins: MetricDefinition, tickets: MetricDefinition
) -> None:
    job = upload(
        admin,
        "metrics_wide",
        "account,date,logins,tickets,comment\nACME-1,2026-01-01,10,,hi\nACME-1,2026-01-02,11,2,\n",
    )
    assert job.mapping["metrics"] == {"logins": "logins", "tickets": "tickets"}
    job = run(job, admin)
    assert job.status == "succeeded", job.message
    assert MetricValue.objects.count() == 3


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


@pytest.mark.parametrize(
    ("row", "column", "reason"),
    [
        ("NOPE,logins,1,2026-01-01", "account", "unknown account 'NOPE' (or outside your scope)"),
        (",logins,1,2026-01-01", "account", "is empty"),
        ("ACME-1,nope,1,2026-01-01", "metric", "unknown metric 'nope'"),
        ("ACME-1,logins,NaN,2026-01-01", "value", "must be a finite number"),
        ("ACME-1,logins,inf,2026-01-01", "value", "must be a finite number"),
        ("ACME-1,logins,,2026-01-01", "value", "is missing"),
        ("ACME-1,logins,1,01/02/2026", "observed_at", "is not an ISO 8601 date-time"),
        ("ACME-1,logins,1,", "observed_at", "is missing"),
        ("ACME-1,logins,1,2999-01-01", "observed_at", "is in the future"),
        ("ACME-1,logins,1,2026-01-01,extra", "", "has 5 cells but the header has 4 columns"),
    ],
)
def test_each_bad_metric_row_is_reported(
    admin: User, account: Account, logins: MetricDefinition, row: str, column: str, reason: str
) -> None:
    job = run(
        upload(
            admin,
            "metrics_long",
            f"account,metric,value,observed_at\nACME-1,logins,1,2026-01-01\n{row}\n",
        ),
        admin,
    )
    assert job.status == "failed"
    assert [(e["line"], e["column"]) for e in job.errors] == [(3, column)]
    assert reason in job.errors[0]["reason"]
    assert not MetricValue.objects.exists()


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


def test_accounts_import_creates_and_updates(admin: User, csm: User, account: Account) -> None:
    text = 'external_id,name,owner,arr,renewal_date,segment\nACME-1,Acme Renamed,csm,1000,2027-01-31,Enterprise\nNEW-1,Newco,csm,"2,500.50",,SMB\n'
    job = run(upload(admin, "accounts", text), admin)
    assert job.status == "succeeded", (job.message, job.errors)
    assert job.result == {"rows": 2, "created": 1, "updated": 1}
    account.refresh_from_db()
    assert (account.name, str(account.arr), account.renewal_date, account.segment) == (
        "Acme Renamed",
        "1000.00",
        dt.date(2027, 1, 31),
        "Enterprise",
    )
    new = Account.objects.get(external_id="NEW-1")
    assert (new.owner, str(new.arr), new.renewal_date) == (csm, "2500.50", None)


def test_accounts_import_keeps_the_owner_sort_key(admin: User, csm: User, teammate: User) -> None:
    User.objects.filter(pk=teammate.pk).update(first_name="Anna", last_name="Young")
    existing = Account.objects.create(external_id="ACME-1", name="Acme", owner=csm)
    text = "external_id,name,owner\nACME-1,Acme,teammate\nNEW-1,Newco,\n"
    assert run(upload(admin, "accounts", text), admin).status == "succeeded"
    existing.refresh_from_db()
    assert (existing.owner, existing.owner_sort_name) == (teammate, "anna young")
    assert Account.objects.get(external_id="NEW-1").owner_sort_name == ""


@pytest.mark.parametrize(
    ("row", "column", "reason"),
    [
        ("NEW-2,,csm,1,,", "name", "new accounts need a name"),
        ("NEW-2,X,ghost,1,,", "owner", "'ghost' is not a user you may assign accounts to"),
        ("NEW-2,X,csm,-1,,", "arr", "must be between 0 and 10^12"),
        ("NEW-2,X,csm,abc,,", "arr", "'abc' is not a number"),
        ("NEW-2,X,csm,1,31/12/2026,", "renewal_date", "is not a date"),
        ("NEW-2,X,csm,1,,zombie", "lifecycle_stage", "'zombie' is not one of"),
        ("NEW-1,Again,csm,1,,", "external_id", "appears twice in the file (also line 2)"),
    ],
)
def test_each_bad_account_row_is_reported(
    admin: User, csm: User, row: str, column: str, reason: str
) -> None:
    text = f"external_id,name,owner,arr,renewal_date,lifecycle_stage\nNEW-1,Newco,csm,1,,\n{row}\n"
    job = run(upload(admin, "accounts", text), admin)
    assert job.status == "failed"
    assert [(e["line"], e["column"]) for e in job.errors] == [(3, column)], job.errors
    assert reason in job.errors[0]["reason"]
    assert not Account.objects.exists()


def test_manager_cannot_touch_accounts_outside_the_team(
    manager: User, csm: User, other_account: Account, other_csm: User
) -> None:
    text = "external_id,name,owner\nOTHER-1,Hijack,csm\nNEW-1,Mine,other_csm\nNEW-2,Fine,csm\n"
    job = run(upload(manager, "accounts", text), manager)
    assert [(e["line"], e["column"]) for e in job.errors] == [(2, "external_id"), (3, "owner")]
    assert Account.objects.count() == 1


def test_outcomes_import_is_idempotent(admin: User, account: Account) -> None:
    text = "account,kind,occurred_at,arr_change,note\nACME-1,renewed,2026-10-01,5000,2y\n"
    assert run(upload(admin, "outcomes", text), admin).status == "succeeded"
    assert run(upload(admin, "outcomes", text), admin).status == "succeeded"
    assert Outcome.objects.count() == 1
    assert Activity.objects.filter(kind="outcome").count() == 1
    bad = run(upload(admin, "outcomes", "account,kind,occurred_at\nACME-1,won,2026-13-01\n"), admin)
    assert [e["column"] for e in bad.errors] == ["kind", "occurred_at"]


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
