"""The HubSpot connector through hubspot-api-client against a local HubSpot: first and
incremental syncs, re-runs that change nothing, rate limits, bad and archived records, a
revoked token, a run that fails halfway, and the write-back in batches."""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import Account, Activity, User
from connectors.models import Connector, ExternalLink, PendingWriteBack, SyncRun
from connectors.writeback import write_back_scores
from scoring.models import MetricValue
from tests.connectors.conftest import HUBSPOT_TOKEN, make_connector
from tests.connectors.fakes import HubSpotFake, millis
from tests.connectors.helpers import sync
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)


def acme(fake: HubSpotFake, *, modified: dt.datetime = T0, **extra: str) -> None:
    props = {
        "name": "Acme Corp",
        "domain": "acme.example",
        "lifecyclestage": "customer",
        "hubspot_owner_id": "77",
        "num_associated_contacts": "12",
        "num_associated_deals": "3",
        **extra,
    }
    fake.add_company("1001", modified, **props)  # type: ignore[arg-type]


def test_first_sync_creates_accounts_with_owner_arr_renewal_and_metrics(
    hubspot_connector: Connector, hubspot_fake: HubSpotFake, csm: User
) -> None:
    csm.email = "Dana@Example.com"
    csm.save(update_fields=["email"])
    hubspot_fake.owners.append({"id": "77", "email": "dana@example.com"})
    acme(hubspot_fake)
    hubspot_fake.add_company(
        "1002", T0 + dt.timedelta(minutes=5), name="Globex", domain="globex.example"
    )
    hubspot_fake.deals += [
        {
            "id": "9",
            "company": "1001",
            "properties": {
                "dealstage": "closedwon",
                "amount": "48000",
                "closedate": "2026-03-15T00:00:00.000Z",
            },
        },
        {
            "id": "8",
            "company": "1001",
            "properties": {
                "dealstage": "closedwon",
                "amount": "30000",
                "closedate": "2025-03-15T00:00:00.000Z",
            },
        },
        {
            "id": "7",
            "company": "1001",
            "properties": {
                "dealstage": "appointmentscheduled",
                "amount": "99000",
                "closedate": "2026-06-01T00:00:00.000Z",
            },
        },
    ]

    run = sync(hubspot_connector)

    assert (run.status, run.created, run.updated, run.skipped, run.failed) == (
        "succeeded",
        2,
        0,
        0,
        0,
    )
    assert run.expected == 2 and run.seen == 2
    account = Account.objects.get(external_id="hubspot-1001")
    assert account.name == "Acme Corp" and account.domain == "acme.example"
    assert account.owner == csm
    assert account.lifecycle_stage == "adoption"
    assert account.arr == Decimal("48000.00")  # the newest closed-won deal, not the open one
    assert account.renewal_date == dt.date(2027, 3, 15)  # its close date + 12 months
    values = dict(MetricValue.objects.filter(account=account).values_list("metric__key", "value"))
    assert values == {"hubspot_contacts": 12.0, "hubspot_deals": 3.0}
    assert MetricValue.objects.filter(account=account, observed_at=T0).count() == 2
    assert Account.objects.get(external_id="hubspot-1002").owner is None
    assert hubspot_connector.cursor == str(millis(T0 + dt.timedelta(minutes=5)))
    assert hubspot_connector.health == "ok"
    assert ExternalLink.objects.filter(connector=hubspot_connector).count() == 2


def test_existing_account_is_matched_by_domain_not_duplicated(
    hubspot_connector: Connector, hubspot_fake: HubSpotFake, account: Account
) -> None:
    account.domain = "ACME.example"
    account.save(update_fields=["domain"])
    acme(hubspot_fake)
    run = sync(hubspot_connector)
    assert (run.created, run.updated) == (0, 1)
    assert Account.objects.count() == 1
    account.refresh_from_db()
    assert account.name == "Acme Corp"
    assert ExternalLink.objects.get().account == account


def test_second_run_is_incremental_and_changes_nothing_when_nothing_changed(
    hubspot_connector: Connector, hubspot_fake: HubSpotFake
) -> None:
    acme(hubspot_fake)
    hubspot_fake.add_company("1002", T0 + dt.timedelta(hours=1), name="Globex")
    sync(hubspot_connector)
    activities = Activity.objects.count()
    values = list(MetricValue.objects.order_by("pk").values_list("pk", "value"))

    again = sync(hubspot_connector)

    last_search = hubspot_fake.calls("/crm/v3/objects/companies/search")[-1]
    assert last_search["filterGroups"][0]["filters"] == [
        {
            "propertyName": "hs_lastmodifieddate",
            "operator": "GTE",
            "value": str(millis(T0 + dt.timedelta(hours=1))),
        }
    ]
    # Only the newest company comes back (GTE the cursor), and it is unchanged.
    assert (again.seen, again.created, again.updated, again.skipped) == (1, 0, 0, 1)
    assert Activity.objects.count() == activities
    assert list(MetricValue.objects.order_by("pk").values_list("pk", "value")) == values

    # A change in HubSpot: only that company is read and updated.
    acme(
        hubspot_fake,
        modified=T0 + dt.timedelta(hours=2),
        name="Acme Corporation",
        num_associated_contacts="15",
    )
    third = sync(hubspot_connector)
    assert (third.seen, third.updated, third.skipped) == (2, 1, 1)
    account = Account.objects.get(external_id="hubspot-1001")
    assert account.name == "Acme Corporation"
    assert (
        MetricValue.objects.filter(account=account, metric__key="hubspot_contacts")
        .latest("observed_at")
        .value
        == 15
    )


def test_a_429_waits_for_retry_after_then_continues(
    hubspot_connector: Connector, hubspot_fake: HubSpotFake, waits: list[float]
) -> None:
    acme(hubspot_fake)
    hubspot_fake.fail_next(429, times=2, retry_after="7")
    run = sync(hubspot_connector)
    assert run.status == "succeeded" and run.created == 1
    # Retry-After (7 s) is longer than the first backoff steps (1 s, 2 s): it wins.
    assert waits == [7.0, 7.0]


def test_rate_limited_beyond_the_tries_fails_the_run_and_keeps_the_cursor(
    hubspot_connector: Connector, hubspot_fake: HubSpotFake, waits: list[float], settings: object
) -> None:
    acme(hubspot_fake)
    hubspot_fake.fail_next(429, times=10)
    run = sync(hubspot_connector)
    assert run.status == "failed"
    assert "still rate-limited after 6 tries" in run.message
    assert waits == [1.0, 2.0, 4.0, 8.0, 16.0]  # exponential, bounded by the number of tries
    assert hubspot_connector.cursor == "" and not Account.objects.exists()


def test_a_bad_record_is_listed_and_written_not_at_all_while_the_others_are(
    hubspot_connector: Connector, hubspot_fake: HubSpotFake
) -> None:
    acme(hubspot_fake, num_associated_contacts="twelve")
    hubspot_fake.add_company(
        "1002", T0 + dt.timedelta(minutes=1), name="Globex", lifecyclestage="customer"
    )
    hubspot_fake.add_company("1003", T0 + dt.timedelta(minutes=2), name="Initech", domain="x" * 250)

    # An id that cannot become an external id: the database refuses the account it makes.
    hubspot_fake.add_company("10 04", T0 + dt.timedelta(minutes=3), name="Umbrella")

    run = sync(hubspot_connector)

    assert (run.status, run.created, run.failed) == ("partial", 1, 3)
    reasons = {e["record"]: e["reason"] for e in run.errors}
    assert reasons["10 04"].startswith("the database refused it:")
    assert reasons["1001"] == "property num_associated_contacts is 'twelve', not a number"
    assert reasons["1003"].startswith("domain 'xxxx")
    assert "at most 200 characters" in reasons["1003"]
    assert list(Account.objects.values_list("external_id", flat=True)) == ["hubspot-1002"]
    assert not ExternalLink.objects.exclude(vendor_id="1002").exists()
    assert hubspot_connector.health == "ok"


def test_archived_companies_are_skipped(
    hubspot_connector: Connector, hubspot_fake: HubSpotFake
) -> None:
    acme(hubspot_fake)
    hubspot_fake.add_company("1002", T0, archived=True, name="Gone Inc")
    run = sync(hubspot_connector)
    assert (run.created, run.skipped) == (1, 1)
    assert not Account.objects.filter(name="Gone Inc").exists()


def test_a_revoked_token_marks_the_connector_failing_and_writes_nothing(
    hubspot_connector: Connector, hubspot_fake: HubSpotFake, caplog: pytest.LogCaptureFixture
) -> None:
    acme(hubspot_fake)
    hubspot_fake.token = "pat-revoked"
    with caplog.at_level(logging.DEBUG):
        run = sync(hubspot_connector)
    assert caplog.records and HUBSPOT_TOKEN not in caplog.text  # the token is never logged
    assert run.status == "failed"
    assert "HubSpot refused the access token (401" in run.message
    assert hubspot_connector.health == "failing"
    assert hubspot_connector.last_error == run.message
    assert not Account.objects.exists() and hubspot_connector.cursor == ""


def test_a_run_failing_on_page_two_keeps_page_one_and_its_cursor(
    hubspot_connector: Connector, hubspot_fake: HubSpotFake, waits: list[float]
) -> None:
    for i in range(150):
        hubspot_fake.add_company(str(2000 + i), T0 + dt.timedelta(minutes=i), name=f"Company {i}")
    original = hubspot_fake._search_companies
    broken = [True]

    def second_page_breaks(request: object) -> object:
        if broken[0] and len(hubspot_fake.calls("/crm/v3/objects/companies/search")) >= 2:
            hubspot_fake.fail_next(500, times=20)  # HubSpot down from page two on
        return original(request)  # type: ignore[arg-type]

    hubspot_fake._search_companies = second_page_breaks  # type: ignore[method-assign,assignment]
    hubspot_fake.server.clear()
    hubspot_fake.install()

    run = sync(hubspot_connector)
    assert run.status == "failed" and run.created == 100
    assert Account.objects.count() == 100
    assert hubspot_connector.cursor == str(millis(T0 + dt.timedelta(minutes=99)))
    assert hubspot_connector.health == "failing"

    broken[0] = False
    hubspot_fake.failures.clear()
    resumed = sync(hubspot_connector)
    # From the cursor: the last company of page one again (unchanged), then the rest.
    assert (resumed.status, resumed.created, resumed.skipped) == ("succeeded", 50, 1)
    assert Account.objects.count() == 150


def test_write_back_creates_the_properties_once_and_updates_in_batches_of_100(
    hubspot_connector: Connector,
    hubspot_fake: HubSpotFake,
    scorecard: object,
    django_capture_on_commit_callbacks: Any,
) -> None:
    recent = timezone.now() - dt.timedelta(hours=1)  # inside the scorecard's 30-day window
    for i in range(250):
        hubspot_fake.add_company(
            str(3000 + i), recent, name=f"Company {i}", num_associated_contacts=str(i % 90)
        )
    # The scorecard's metric is "logins"; map contacts onto it so every account gets a score.
    hubspot_connector.mapping["metrics"] = {"num_associated_contacts": "logins"}
    hubspot_connector.mapping["deal_stages"] = ""  # no deal look-ups: ARR is not the point here
    hubspot_connector.save(update_fields=["mapping"])

    # On commit: the recompute, its score events, the crm consumer (eager Celery).
    with django_capture_on_commit_callbacks(execute=True):
        sync(hubspot_connector)

    batches = hubspot_fake.calls("/crm/v3/objects/companies/batch/update")
    assert [len(b["inputs"]) for b in batches] == [100, 100, 50]
    assert set(hubspot_fake.properties) == {
        "chs_health_score",
        "chs_health_band",
        "chs_health_updated_at",
    }
    assert hubspot_fake.properties["chs_health_score"]["type"] == "number"
    company = hubspot_fake.companies["3010"]["properties"]
    account = Account.objects.get(external_id="hubspot-3010")
    assert account.computed_score is not None
    assert company["chs_health_score"] == f"{account.computed_score:g}"
    assert company["chs_health_band"] == account.computed_band
    assert not PendingWriteBack.objects.exists()
    run = SyncRun.objects.get(kind="write_back")
    assert (run.status, run.updated) == ("succeeded", 250)

    # The next change pushes again without creating the properties a second time.
    creates = len(hubspot_fake.calls("/crm/v3/properties/companies"))
    hubspot_fake.add_company(
        "3010", recent + dt.timedelta(minutes=1), name="Company 10", num_associated_contacts="89"
    )
    with django_capture_on_commit_callbacks(execute=True):
        sync(hubspot_connector)
    assert len(hubspot_fake.calls("/crm/v3/properties/companies")) == creates
    assert [len(b["inputs"]) for b in hubspot_fake.calls("/crm/v3/objects/companies/batch/update")][
        3:
    ] == [1]


def test_write_back_that_fails_keeps_the_scores_pending(
    hubspot_connector: Connector, hubspot_fake: HubSpotFake, account: Account
) -> None:
    acme(hubspot_fake)
    account.domain = "acme.example"
    account.save(update_fields=["domain"])
    sync(hubspot_connector)
    PendingWriteBack.objects.create(
        connector=hubspot_connector, account=account, score=55.0, band="yellow", changed_at=T0
    )
    hubspot_fake.token = "pat-revoked"
    write_back_scores()
    assert PendingWriteBack.objects.count() == 1
    hubspot_connector.refresh_from_db()
    assert hubspot_connector.health == "failing"
    assert hubspot_connector.last_error.startswith("Write-back: HubSpot refused the access token")

    hubspot_fake.token = HUBSPOT_TOKEN
    write_back_scores()
    assert not PendingWriteBack.objects.exists()
    assert hubspot_fake.companies["1001"]["properties"]["chs_health_band"] == "yellow"


def test_owner_email_without_a_chs_user_leaves_the_owner_alone(
    hubspot_connector: Connector, hubspot_fake: HubSpotFake
) -> None:
    UserFactory(email="someone@else.example")
    hubspot_fake.owners.append({"id": "77", "email": "nobody@example.com"})
    acme(hubspot_fake)
    sync(hubspot_connector)
    assert Account.objects.get().owner is None


def test_a_connector_added_again_finds_the_accounts_it_created(
    hubspot_connector: Connector, hubspot_fake: HubSpotFake, admin: User
) -> None:
    acme(hubspot_fake)
    sync(hubspot_connector)
    hubspot_connector.delete()  # its links go with it; the accounts stay
    again = make_connector(admin, "hubspot", hubspot_fake.url, HUBSPOT_TOKEN)
    run = sync(again)
    assert (run.status, run.created, run.updated) == ("succeeded", 0, 1)  # linked anew
    assert Account.objects.count() == 1
    assert ExternalLink.objects.get().connector == again


def test_a_company_deleted_in_hubspot_is_dropped_and_the_others_are_written_back(
    hubspot_connector: Connector, hubspot_fake: HubSpotFake
) -> None:
    accounts = []
    for i in range(5):
        hubspot_fake.add_company(str(4000 + i), T0, name=f"Company {i}")
    sync(hubspot_connector)
    for i in range(5):
        account = Account.objects.get(external_id=f"hubspot-{4000 + i}")
        accounts.append(account)
        PendingWriteBack.objects.create(
            connector=hubspot_connector, account=account, score=40.0 + i, band="red", changed_at=T0
        )
    del hubspot_fake.companies["4002"]  # deleted in HubSpot since the last sync

    write_back_scores()

    run = SyncRun.objects.get(kind="write_back")
    assert (run.status, run.updated, run.failed) == ("partial", 4, 1)
    assert run.errors[0]["record"] == "4002"
    assert "HubSpot refused a request (404" in run.errors[0]["reason"]
    assert not PendingWriteBack.objects.exists()  # nothing waits for ever
    assert hubspot_fake.companies["4004"]["properties"]["chs_health_score"] == "44"
    # Halves until the deleted one was alone: 5 → 2 + 3 → 1 + 2 → …, each accepted at once.
    sizes = [len(b["inputs"]) for b in hubspot_fake.calls("/crm/v3/objects/companies/batch/update")]
    assert sizes[0] == 5 and 1 in sizes and sum(s for s in sizes if s < 5) >= 5
