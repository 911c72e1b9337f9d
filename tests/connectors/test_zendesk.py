"""The Zendesk connector through its REST API against a local Zendesk: matching by external
id then domain, the four support metrics, cursor pagination, deleted organizations, rate
limits, a bad record, a revoked token, and a re-run that changes nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from django.utils import timezone
from pytest_httpserver import HTTPServer

from accounts.models import Account, User
from connectors.models import Connector, ExternalLink
from scoring.models import MetricValue
from tests.connectors.conftest import make_connector
from tests.connectors.helpers import sync
from tests.connectors.support_fakes import ZendeskFake
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db

TOKEN = "zd-oauth-0000000000000000000000000000000000000000000000000000000000004242"


@pytest.fixture
def zendesk_fake(httpserver: HTTPServer) -> Iterator[ZendeskFake]:
    yield ZendeskFake(server=httpserver, token=TOKEN).install()


@pytest.fixture
def zendesk_connector(admin: User, zendesk_fake: ZendeskFake, waits: list[float]) -> Connector:
    return make_connector(admin, "zendesk", zendesk_fake.url, TOKEN, subdomain="acme")


def metrics_of(account: Account) -> dict[str, float]:
    return dict(MetricValue.objects.filter(account=account).values_list("metric__key", "value"))


def test_organizations_are_matched_and_bring_the_support_metrics(
    zendesk_connector: Connector, zendesk_fake: ZendeskFake
) -> None:
    now = timezone.now()
    by_id: Account = AccountFactory.create(external_id="ACME-1", domain="acme.example")
    by_domain: Account = AccountFactory.create(external_id="GLOBEX", domain="globex.example")
    zendesk_fake.add_org(1, "Acme", external_id="ACME-1", domain_names=["other.example"])
    zendesk_fake.add_org(2, "Globex", domain_names=["Globex.example"])
    zendesk_fake.add_org(3, "Nobody we know", domain_names=["unknown.example"])
    zendesk_fake.add_org(4, "No way to match")
    day = dt.timedelta(days=1)
    # Acme: two unsolved (one urgent), one solved; replies 30 and 90 minutes on the recent
    # ones; ratings good, good, bad → 66.7 % good.
    zendesk_fake.add_ticket(11, 1, created=now - 2 * day, reply_minutes=30, rating="good")
    zendesk_fake.add_ticket(
        12, 1, status="pending", priority="urgent", created=now - 5 * day, reply_minutes=90
    )
    zendesk_fake.add_ticket(13, 1, status="solved", created=now - 60 * day, rating="good")
    zendesk_fake.add_ticket(14, 1, status="closed", created=now - 10 * day, rating="bad")
    # A rating older than 90 days does not count; a reply older than 30 days neither.
    zendesk_fake.add_ticket(
        15, 1, status="closed", created=now - 200 * day, reply_minutes=600, rating="bad"
    )

    run = sync(zendesk_connector)

    assert (run.status, run.updated, run.skipped) == ("succeeded", 2, 2)
    assert metrics_of(by_id) == {
        "open_tickets": 2.0,
        "urgent_tickets": 1.0,
        "ticket_csat": 66.7,
        "first_reply_hours": 1.0,
    }
    # Globex has no tickets: nothing open, and no CSAT or reply time to report.
    assert metrics_of(by_domain) == {"open_tickets": 0.0, "urgent_tickets": 0.0}
    assert set(ExternalLink.objects.values_list("vendor_id", "account_id")) == {
        ("1", by_id.pk),
        ("2", by_domain.pk),
    }
    assert Account.objects.count() == 2  # Zendesk never creates accounts
    reasons = {e["record"]: e["reason"] for e in run.errors} if run.errors else {}
    assert "4" not in reasons  # skipped with a reason, not an error


def test_a_second_run_the_same_day_changes_nothing_and_pages_follow_the_cursor(
    zendesk_connector: Connector, zendesk_fake: ZendeskFake
) -> None:
    zendesk_fake.page_size = 2
    for i in range(5):
        AccountFactory.create(external_id=f"ORG-{i}")
        zendesk_fake.add_org(100 + i, f"Org {i}", external_id=f"ORG-{i}")
    zendesk_fake.add_org(200, "Gone", external_id="ORG-0", deleted_at="2026-11-30T10:00:00Z")
    first = sync(zendesk_connector)
    assert (first.status, first.updated, first.skipped) == ("succeeded", 5, 1)
    pages = [a for _, path, a in zendesk_fake.requests if path == "/api/v2/organizations"]
    assert [p.get("page[after]") for p in pages] == [None, "2", "4"]
    assert zendesk_connector.cursor == ""  # a pass that completes starts over next time
    values = list(MetricValue.objects.order_by("pk").values_list("pk", "value"))

    again = sync(zendesk_connector)

    assert again.status == "succeeded" and again.updated == 0
    assert list(MetricValue.objects.order_by("pk").values_list("pk", "value")) == values


def test_an_api_token_authenticates_as_email_slash_token(
    admin: User, zendesk_fake: ZendeskFake, waits: list[float]
) -> None:
    AccountFactory.create(external_id="ACME-1")
    zendesk_fake.add_org(1, "Acme", external_id="ACME-1")
    connector = make_connector(
        admin, "zendesk", zendesk_fake.url, f"{zendesk_fake.email}/token:{TOKEN}"
    )
    assert sync(connector).status == "succeeded"


def test_a_429_is_retried_after_the_wait_zendesk_asks(
    zendesk_connector: Connector, zendesk_fake: ZendeskFake, waits: list[float]
) -> None:
    AccountFactory.create(external_id="ACME-1")
    zendesk_fake.add_org(1, "Acme", external_id="ACME-1")
    zendesk_fake.fail_next(429, times=2, retry_after="5")
    run = sync(zendesk_connector)
    assert run.status == "succeeded" and run.updated == 1
    assert waits == [5.0, 5.0]


def test_a_bad_record_is_listed_and_the_others_are_written(
    zendesk_connector: Connector, zendesk_fake: ZendeskFake
) -> None:
    acme: Account = AccountFactory.create(external_id="ACME-1")
    globex: Account = AccountFactory.create(external_id="GLOBEX")
    zendesk_fake.add_org(1, "Acme", external_id="ACME-1")
    zendesk_fake.add_org(2, "Globex", external_id="GLOBEX")
    zendesk_fake.add_ticket(11, 1, created=timezone.now())
    zendesk_fake.tickets[-1]["created_at"] = "yesterday-ish"
    run = sync(zendesk_connector)
    assert (run.status, run.updated, run.failed) == ("partial", 1, 1)
    assert run.errors[0]["record"] == "1"
    assert "a ticket cannot be read" in run.errors[0]["reason"]
    assert metrics_of(acme) == {} and metrics_of(globex)["open_tickets"] == 0.0


def test_a_revoked_token_fails_the_run_with_a_clear_reason_and_writes_nothing(
    zendesk_connector: Connector, zendesk_fake: ZendeskFake
) -> None:
    AccountFactory.create(external_id="ACME-1")
    zendesk_fake.add_org(1, "Acme", external_id="ACME-1")
    zendesk_fake.token = "zd-revoked"
    run = sync(zendesk_connector)
    assert run.status == "failed"
    assert run.message.startswith("Zendesk refused the credential (401)")
    assert zendesk_connector.health == "failing"
    assert not MetricValue.objects.exists() and not ExternalLink.objects.exists()
