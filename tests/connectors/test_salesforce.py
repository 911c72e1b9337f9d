"""The Salesforce connector through simple-salesforce against a local Salesforce (HTTPS,
as the client requires, with a certificate from a local CA): first and incremental syncs
bounded by SystemModstamp, a re-run that changes nothing, query batches, deleted Accounts,
the API limit, a bad record, a revoked session, and the write-back in batches of 200."""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import trustme
from django.utils import timezone
from pytest_httpserver import HTTPServer

from accounts.models import Account, User
from connectors.models import Connector, PendingWriteBack, SyncRun
from connectors.writeback import write_back_scores
from scoring.models import MetricValue
from tests.connectors.conftest import make_connector
from tests.connectors.helpers import sync
from tests.connectors.support_fakes import API, SalesforceFake
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

TOKEN = "00Dxx0000001gPL!AR8AQJXg5cUtmLkuWm6xBU3nAnotreal4242"
T0 = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="session")
def local_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def salesforce_fake(
    local_ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[SalesforceFake]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    local_ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    server.start()
    bundle = tmp_path / "local-ca.pem"
    local_ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))  # requests trusts the local CA
    try:
        yield SalesforceFake(server=server, token=TOKEN).install()
    finally:
        server.clear()
        server.stop()


@pytest.fixture
def salesforce_connector(
    admin: User, salesforce_fake: SalesforceFake, waits: list[float]
) -> Connector:
    assert salesforce_fake.url.startswith("https://127.0.0.1:")
    connector = make_connector(
        admin, "salesforce", "", TOKEN, instance_url=salesforce_fake.url, lifecycle_field=""
    )
    connector.write_back = True
    connector.save(update_fields=["write_back"])
    return connector


def acme(fake: SalesforceFake, *, modified: dt.datetime = T0, **extra: Any) -> None:
    fields = {
        "Name": "Acme Corp",
        "Website": "https://www.acme.example/",
        "NumberOfEmployees": 120,
        "owner_email": "owner@chs.example",
        **extra,
    }
    fake.add_account("001A", modified, **fields)


def test_first_sync_creates_accounts_with_owner_arr_renewal_and_metrics(
    salesforce_connector: Connector, salesforce_fake: SalesforceFake
) -> None:
    owner: User = UserFactory.create(email="owner@chs.example")
    acme(salesforce_fake)
    salesforce_fake.opportunities += [
        {"AccountId": "001A", "Amount": 48000.0, "CloseDate": "2026-03-15", "IsWon": True},
        {"AccountId": "001A", "Amount": 36000.0, "CloseDate": "2025-03-15", "IsWon": True},
        {"AccountId": "001A", "Amount": 99000.0, "CloseDate": "2026-06-01", "IsWon": False},
    ]
    run = sync(salesforce_connector)
    assert (run.status, run.created) == ("succeeded", 1)
    account = Account.objects.get(external_id="salesforce-001A")
    assert (account.name, account.domain, account.owner_id) == (
        "Acme Corp",
        "acme.example",
        owner.pk,
    )
    assert account.arr == Decimal("48000.00")  # the newest won Opportunity
    assert account.renewal_date == dt.date(2027, 3, 15)  # its close date + 12 months
    value = MetricValue.objects.get(account=account, metric__key="salesforce_employees")
    assert value.value == 120 and value.observed_at == T0


def test_syncs_are_incremental_by_systemmodstamp_and_a_rerun_changes_nothing(
    salesforce_connector: Connector, salesforce_fake: SalesforceFake
) -> None:
    salesforce_fake.batch_size = 2
    acme(salesforce_fake)
    for i in range(4):
        salesforce_fake.add_account(
            f"001B{i}", T0 + dt.timedelta(hours=i + 1), Name=f"Globex {i}", NumberOfEmployees=i
        )
    salesforce_fake.add_account("001D", T0 + dt.timedelta(hours=9), Name="Gone")
    salesforce_fake.accounts["001D"]["IsDeleted"] = True
    first = sync(salesforce_connector)
    assert (first.status, first.created, first.skipped) == ("succeeded", 5, 1)
    assert len(salesforce_fake.calls(rf"{API}/query/01g.*")) == 2  # three batches of two
    assert salesforce_connector.cursor == "2026-11-01T18:00:00.000Z"
    values = list(MetricValue.objects.order_by("pk").values_list("pk", "value"))

    again = sync(salesforce_connector)
    soql = salesforce_fake.calls(f"{API}/queryAll/")[-1]["q"]
    assert "WHERE SystemModstamp >= 2026-11-01T18:00:00.000Z" in soql
    assert (again.seen, again.created, again.updated) == (1, 0, 0)
    assert list(MetricValue.objects.order_by("pk").values_list("pk", "value")) == values

    acme(salesforce_fake, modified=T0 + dt.timedelta(days=1), Name="Acme Corporation")
    third = sync(salesforce_connector)
    assert third.updated == 1
    assert Account.objects.get(external_id="salesforce-001A").name == "Acme Corporation"


def test_the_api_limit_is_waited_out_then_the_run_continues(
    salesforce_connector: Connector, salesforce_fake: SalesforceFake, waits: list[float]
) -> None:
    acme(salesforce_fake)
    salesforce_fake.fail_next(403, times=2)  # REQUEST_LIMIT_EXCEEDED
    run = sync(salesforce_connector)
    assert run.status == "succeeded" and run.created == 1
    assert waits == [1.0, 2.0]


def test_a_bad_record_is_listed_and_the_others_are_written(
    salesforce_connector: Connector, salesforce_fake: SalesforceFake
) -> None:
    acme(salesforce_fake, NumberOfEmployees="lots")
    salesforce_fake.add_account("001B", T0, Name="Globex")
    run = sync(salesforce_connector)
    assert (run.status, run.created, run.failed) == ("partial", 1, 1)
    assert run.errors[0] == {
        "record": "001A",
        "reason": "field NumberOfEmployees is 'lots', not a number",
    }
    assert list(Account.objects.values_list("name", flat=True)) == ["Globex"]


def test_a_revoked_session_fails_the_run_and_writes_nothing(
    salesforce_connector: Connector, salesforce_fake: SalesforceFake
) -> None:
    acme(salesforce_fake)
    salesforce_fake.token = "revoked"
    run = sync(salesforce_connector)
    assert run.status == "failed"
    assert run.message.startswith("Salesforce refused the session (401 INVALID_SESSION_ID)")
    assert salesforce_connector.health == "failing"
    assert not Account.objects.exists() and salesforce_connector.cursor == ""


def test_write_back_updates_accounts_in_batches_of_200(
    salesforce_connector: Connector,
    salesforce_fake: SalesforceFake,
    scorecard: object,
    django_capture_on_commit_callbacks: Any,
) -> None:
    recent = timezone.now() - dt.timedelta(hours=1)
    for i in range(450):
        salesforce_fake.add_account(f"001W{i:03d}", recent, Name=f"Company {i}", Logins=i % 90)
    salesforce_connector.mapping["metrics"] = {"Logins": "logins"}  # the scorecard's metric
    salesforce_connector.save(update_fields=["mapping"])

    with django_capture_on_commit_callbacks(execute=True):
        sync(salesforce_connector)

    batches = salesforce_fake.calls(f"{API}/composite/sobjects")
    assert [len(b["records"]) for b in batches] == [200, 200, 50]
    assert all(b["allOrNone"] is False for b in batches)
    account = Account.objects.get(external_id="salesforce-001W010")
    record = salesforce_fake.accounts["001W010"]
    assert record["CHS_Health_Score__c"] == account.computed_score
    assert record["CHS_Health_Band__c"] == account.computed_band
    assert not PendingWriteBack.objects.exists()
    assert SyncRun.objects.get(kind="write_back").updated == 450


def test_write_back_without_the_custom_fields_says_which_to_add_and_keeps_the_scores(
    salesforce_connector: Connector, salesforce_fake: SalesforceFake, account: Account
) -> None:
    acme(salesforce_fake, Website="acme.example")
    account.domain = "acme.example"
    account.save(update_fields=["domain"])
    sync(salesforce_connector)
    salesforce_fake.account_fields -= {"CHS_Health_Band__c"}
    PendingWriteBack.objects.create(
        connector=salesforce_connector, account=account, score=55.0, band="yellow", changed_at=T0
    )
    write_back_scores()
    salesforce_connector.refresh_from_db()
    assert "lack the write-back fields CHS_Health_Band__c" in salesforce_connector.last_error
    assert PendingWriteBack.objects.count() == 1

    salesforce_fake.account_fields.add("CHS_Health_Band__c")
    write_back_scores()
    assert not PendingWriteBack.objects.exists()
    assert salesforce_fake.accounts["001A"]["CHS_Health_Band__c"] == "yellow"


def test_an_account_salesforce_refuses_is_dropped_with_its_reason_and_the_others_go(
    salesforce_connector: Connector, salesforce_fake: SalesforceFake
) -> None:
    for i in range(3):
        salesforce_fake.add_account(f"001R{i}", T0, Name=f"Company {i}")
    sync(salesforce_connector)
    for i in range(3):
        PendingWriteBack.objects.create(
            connector=salesforce_connector,
            account=Account.objects.get(external_id=f"salesforce-001R{i}"),
            score=30.0,
            band="red",
            changed_at=T0,
        )
    del salesforce_fake.accounts["001R1"]  # deleted in Salesforce since the last sync

    write_back_scores()

    run = SyncRun.objects.get(kind="write_back")
    assert (run.status, run.updated, run.failed) == ("partial", 2, 1)
    assert run.errors == [
        {
            "record": "001R1",
            "reason": "Salesforce refused the update: ENTITY_IS_DELETED entity is deleted",
        }
    ]
    assert not PendingWriteBack.objects.exists()
    assert salesforce_fake.accounts["001R2"]["CHS_Health_Band__c"] == "red"
