"""The Stripe connector through the stripe library against a local Stripe: matching by
metadata then email domain, MRR/ARR and the payment metrics, pagination, deleted
customers, rate limits and a revoked key."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Account
from connectors.models import Connector, ExternalLink
from scoring.models import MetricValue
from tests.connectors.fakes import StripeFake
from tests.connectors.helpers import sync
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


def metrics_of(account: Account) -> dict[str, float]:
    return dict(MetricValue.objects.filter(account=account).values_list("metric__key", "value"))


def test_customers_are_matched_and_bring_mrr_arr_and_payment_metrics(
    stripe_connector: Connector, stripe_fake: StripeFake
) -> None:
    now = timezone.now()
    by_metadata: Account = AccountFactory.create(external_id="ACME-1", domain="acme.example", arr=0)
    by_domain: Account = AccountFactory.create(external_id="GLOBEX", domain="globex.example", arr=0)
    stripe_fake.add_customer(
        "cus_A", email="billing@other.example", metadata={"chs_account_id": "ACME-1"}
    )
    stripe_fake.add_customer("cus_B", email="ap@Globex.example")
    stripe_fake.add_customer("cus_C", email="nobody@unknown.example")
    # Acme: 100/month for 90 days, plus 1 200/year started 10 days ago → MRR 200, was 100.
    stripe_fake.add_subscription("cus_A", amount=10_000, start=now - dt.timedelta(days=90))
    stripe_fake.add_subscription(
        "cus_A", amount=120_000, interval="year", start=now - dt.timedelta(days=10)
    )
    # A cancelled one that ended 40 days ago counts neither now nor 30 days ago.
    stripe_fake.add_subscription(
        "cus_A",
        amount=50_000,
        status="canceled",
        start=now - dt.timedelta(days=200),
        ended=now - dt.timedelta(days=40),
    )
    stripe_fake.invoices += [
        {
            "id": "in_1",
            "object": "invoice",
            "customer": "cus_A",
            "status": "open",
            "due_date": int((now - dt.timedelta(days=3)).timestamp()),
        },
        {
            "id": "in_2",
            "object": "invoice",
            "customer": "cus_A",
            "status": "open",
            "due_date": int((now + dt.timedelta(days=3)).timestamp()),
        },
    ]
    stripe_fake.charges += [
        {
            "id": "ch_1",
            "object": "charge",
            "customer": "cus_A",
            "status": "failed",
            "created": int((now - dt.timedelta(days=2)).timestamp()),
        },
        {
            "id": "ch_2",
            "object": "charge",
            "customer": "cus_A",
            "status": "succeeded",
            "created": int((now - dt.timedelta(days=2)).timestamp()),
        },
    ]
    # Globex: 3 seats at 50/month since last week: no MRR 30 days ago, so no change metric.
    stripe_fake.add_subscription(
        "cus_B", amount=5_000, quantity=3, start=now - dt.timedelta(days=7)
    )

    run = sync(stripe_connector)

    assert (run.status, run.seen, run.updated, run.skipped, run.failed) == ("succeeded", 3, 2, 1, 0)
    by_metadata.refresh_from_db()
    by_domain.refresh_from_db()
    assert by_metadata.arr == Decimal("2400.00")
    assert by_domain.arr == Decimal("1800.00")
    assert metrics_of(by_metadata) == {
        "mrr": 200.0,
        "mrr_change_pct": 100.0,
        "overdue_invoices": 1.0,
        "failed_payments_30d": 1.0,
    }
    assert metrics_of(by_domain) == {
        "mrr": 150.0,
        "overdue_invoices": 0.0,
        "failed_payments_30d": 0.0,
    }
    assert Account.objects.count() == 2  # Stripe never creates accounts
    assert set(ExternalLink.objects.values_list("vendor_id", flat=True)) == {"cus_A", "cus_B"}
    assert stripe_connector.cursor == ""  # the pass completed

    again = sync(stripe_connector)
    assert (again.updated, again.skipped) == (0, 3)
    assert MetricValue.objects.count() == 7


def test_pages_follow_starting_after_and_deleted_customers_are_skipped(
    stripe_connector: Connector, stripe_fake: StripeFake
) -> None:
    for i in range(230):
        AccountFactory(external_id=f"ACC-{i}", domain=f"c{i}.example")
        stripe_fake.add_customer(f"cus_{i:04d}", email=f"billing@c{i}.example")
    stripe_fake.add_customer("cus_gone", deleted=True)
    run = sync(stripe_connector)
    assert (run.seen, run.updated, run.skipped) == (231, 230, 1)
    starts = [c.get("starting_after") for c in stripe_fake.calls("/v1/customers")]
    assert starts == [None, "cus_0099", "cus_0199"]


def test_a_429_is_retried_after_the_wait_stripe_asks(
    stripe_connector: Connector, stripe_fake: StripeFake, waits: list[float]
) -> None:
    AccountFactory(external_id="ACME-1")
    stripe_fake.add_customer("cus_A", metadata={"chs_account_id": "ACME-1"})
    stripe_fake.fail_next(429, retry_after="3")
    run = sync(stripe_connector)
    assert run.status == "succeeded" and run.updated == 1
    assert waits == [3.0]


def test_a_revoked_key_fails_the_run_with_stripes_reason(
    stripe_connector: Connector, stripe_fake: StripeFake
) -> None:
    account: Account = AccountFactory.create(external_id="ACME-1", arr=1000)
    stripe_fake.add_customer("cus_A", metadata={"chs_account_id": "ACME-1"})
    stripe_fake.token = "rk_test_other"
    run = sync(stripe_connector)
    assert run.status == "failed"
    assert run.message.startswith("Stripe refused the API key (401: Invalid API Key provided")
    assert stripe_connector.health == "failing"
    account.refresh_from_db()
    assert account.arr == Decimal("1000.00") and not MetricValue.objects.exists()
