"""One bad account never blocks the others: values are bounded at every door, and a
recompute that still fails on an account sets that account aside (quarantine) and scores
the rest of its batch."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.utils import timezone

from accounts.imports.jobs import run_import, start_import
from accounts.models import Account, User
from scoring.contracts import METRIC_VALUE_LIMIT, MeasureIn, MetricValueIn
from scoring.models import (
    DirtyAccount,
    MetricDefinition,
    MetricValue,
    QuarantinedAccount,
    Scorecard,
)
from scoring.services import quarantine
from scoring.services.dirty import mark_accounts_dirty
from scoring.services.recompute import recompute_dirty_accounts, recompute_scores
from scoring.services.scorecards import validate_scorecard
from scoring.services.values import record_metric_values
from tests.accounts.imports.helpers import upload
from tests.api.helpers import api_for
from tests.factories import AccountFactory


def _poison(account: Account, metric: MetricDefinition) -> None:
    """Store a value no door lets in, as a bug or a hand edit of the database would."""
    at = timezone.now() - dt.timedelta(hours=1)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # deferred FK checks first
            cursor.execute(
                "ALTER TABLE scoring_metricvalue DROP CONSTRAINT metric_value_within_limit"
            )
    else:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA ignore_check_constraints = ON")
    for hours in (1, 2):
        MetricValue.objects.create(
            account=account,
            metric=metric,
            value=1.7e308,
            observed_at=at - dt.timedelta(hours=hours),
        )
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA ignore_check_constraints = OFF")


def _values(accounts: list[Account], metric: MetricDefinition, value: float) -> None:
    at = timezone.now() - dt.timedelta(minutes=5)
    record_metric_values(
        values=[MetricValueIn(a.pk, metric.pk, value, at) for a in accounts], source="test"
    )


def test_database_refuses_a_value_out_of_range(account: Account, wau: MetricDefinition) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        MetricValue.objects.create(
            account=account, metric=wau, value=METRIC_VALUE_LIMIT * 10, observed_at=timezone.now()
        )


def test_a_poisoned_account_is_quarantined_and_the_rest_of_its_batch_is_scored(
    csm: User, wau: MetricDefinition, default_scorecard: Scorecard
) -> None:
    accounts = AccountFactory.create_batch(9, owner=csm)
    poisoned = accounts[4]
    _values(accounts, wau, 80)
    _poison(poisoned, wau)
    mark_accounts_dirty(account_ids=[a.pk for a in accounts], reason="test")

    result = recompute_dirty_accounts()

    assert result.quarantined == 1
    assert result.accounts == 8
    assert not DirtyAccount.objects.exists()  # the claim stands; nobody waits on the poison
    for a in accounts:
        a.refresh_from_db()
    assert [a.computed_score for a in accounts if a != poisoned] == [80.0] * 8
    assert poisoned.computed_score is None
    row = QuarantinedAccount.objects.get()
    assert row.account_id == poisoned.pk
    assert row.reason  # the database's or the engine's words, shown to admins

    # Skipped afterwards: no second failure, no second row, the others still scored.
    _values(accounts, wau, 60)
    again = recompute_dirty_accounts()
    assert (again.accounts, again.quarantined) == (8, 0)
    assert recompute_scores(account_ids=[a.pk for a in accounts]).accounts == 8


def test_release_marks_the_account_dirty_and_the_next_recompute_tries_again(
    csm: User, wau: MetricDefinition, default_scorecard: Scorecard
) -> None:
    account, other = AccountFactory.create_batch(2, owner=csm)
    _values([account, other], wau, 50)
    _poison(account, wau)
    recompute_scores(account_ids=[account.pk, other.pk])
    assert QuarantinedAccount.objects.filter(account=account).exists()

    MetricValue.objects.filter(account=account, value__gt=METRIC_VALUE_LIMIT).delete()
    assert quarantine.release([account.pk]) == 1
    assert DirtyAccount.objects.filter(account=account).exists()
    recompute_dirty_accounts()
    account.refresh_from_db()
    assert account.computed_score == 50.0
    assert not QuarantinedAccount.objects.exists()


def test_admins_see_quarantined_accounts_and_retry_them_others_get_404(
    csm: User, admin_client: Client, csm_client: Client, manager_client: Client
) -> None:
    account, other = AccountFactory.create_batch(2, owner=csm)
    for a in (account, other):
        QuarantinedAccount.objects.create(
            account=a, reason="DataError: value out of range", quarantined_at=timezone.now()
        )
    for client in (csm_client, manager_client):
        assert client.get("/scoring/quarantine/").status_code == 404
        assert client.post("/scoring/quarantine/", {"all": "1"}).status_code == 404
    assert QuarantinedAccount.objects.count() == 2

    page = admin_client.get("/scoring/quarantine/")
    assert page.status_code == 200
    html = page.content.decode()
    assert account.name in html and "DataError: value out of range" in html
    assert 'href="/scoring/quarantine/"' in html  # in the admin's navigation

    response = admin_client.post("/scoring/quarantine/", {"account": str(account.pk)})
    assert response.status_code == 302
    assert list(QuarantinedAccount.objects.values_list("account_id", flat=True)) == [other.pk]
    assert admin_client.post("/scoring/quarantine/", {"account": "x"}).status_code == 302
    admin_client.post("/scoring/quarantine/", {"all": "1"})
    assert not QuarantinedAccount.objects.exists()
    assert "Nothing is quarantined" in admin_client.get("/scoring/quarantine/").content.decode()


@pytest.mark.parametrize("value", [1.7e308, -1.0000001e15])
def test_the_api_refuses_a_value_out_of_range_naming_the_item(
    csm: User, account: Account, wau: MetricDefinition, value: float
) -> None:
    good = {
        "account": account.external_id,
        "metric": "wau",
        "value": 1e15,
        "observed_at": "2026-11-01",
    }
    response = api_for(csm, "ingest").post(
        "/api/v1/metrics/",
        {"values": [good, {**good, "value": value, "observed_at": "2026-11-02"}]},
    )
    assert response.status_code == 400
    assert response.json()["details"] == [
        {
            "index": 1,
            "field": "value",
            "reason": f"{value:g} is out of range: metric values must be between -1e+15 and 1e+15",
        }
    ]
    assert not MetricValue.objects.exists()


def test_a_csv_import_refuses_a_value_out_of_range_naming_the_row(
    admin: User, account: Account, wau: MetricDefinition
) -> None:
    job = upload(
        admin,
        "metrics_long",
        f"account,metric,value,observed_at\n{account.external_id},wau,1,2026-01-01\n"
        f"{account.external_id},wau,2e20,2026-01-02\n",
    )
    start_import(job=job, user=admin)
    run_import(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "failed"
    assert [(e["line"], e["column"]) for e in job.errors] == [(3, "value")]
    assert "2e+20 is out of range" in job.errors[0]["reason"]
    assert not MetricValue.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"weight": 1e308}, "weight"),
        ({"weight": 0}, "weight"),
        ({"good": 1e300}, "good"),
        ({"bad": -2e15}, "bad"),
    ],
)
def test_a_scorecard_cannot_hold_numbers_its_arithmetic_would_not(
    change: dict[str, float], field: str
) -> None:
    """A weight or a bound beyond these would make every account of the scorecard score
    NaN, and so quarantine them all."""
    numbers = {"weight": 1.0, "bad": 0.0, "good": 100.0, **change}
    measure = MeasureIn(
        metric_key="wau", weight=numbers["weight"], bad=numbers["bad"], good=numbers["good"]
    )
    errors = validate_scorecard(
        name="Card", red_below=40, green_at=70, missing_data="neutral", measures=[measure]
    )
    assert [e["field"] for e in errors] == [field]
