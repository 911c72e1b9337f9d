"""Scoring's importers (scoring/importers.py): metric values in long and wide files, and
outcomes, through the accounts import framework."""

from __future__ import annotations

import pytest

from accounts.models import Account, Activity, User
from scoring.models import DirtyAccount, MetricDefinition, MetricValue, Outcome
from tests.accounts.imports.helpers import run, upload

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_in_tmp")]


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


def test_outcomes_import_is_idempotent(admin: User, account: Account) -> None:
    text = "account,kind,occurred_at,arr_change,note\nACME-1,renewed,2026-10-01,5000,2y\n"
    assert run(upload(admin, "outcomes", text), admin).status == "succeeded"
    assert run(upload(admin, "outcomes", text), admin).status == "succeeded"
    assert Outcome.objects.count() == 1
    assert Activity.objects.filter(kind="outcome").count() == 1
    bad = run(upload(admin, "outcomes", "account,kind,occurred_at\nACME-1,won,2026-13-01\n"), admin)
    assert [e["column"] for e in bad.errors] == ["kind", "occurred_at"]
