"""Stripe (the official ``stripe`` library): customers → the accounts they belong to.

A customer is matched to an account by a metadata key (the account's external id), else by
the domain of its email; unmatched customers are skipped (Stripe never creates accounts).
For each: MRR from its active subscriptions (ARR = 12 × MRR, written on the account) and
the metrics ``mrr``, ``mrr_change_pct`` (against the subscriptions that were running 30
days ago), ``overdue_invoices`` (open invoices past their due date) and
``failed_payments_30d`` (failed charges in the last 30 days), observed at the start of the
day, so a second run on the same day writes nothing new.

Stripe has no "modified since" for customers: each run walks every customer with
``starting_after`` pages; the cursor holds the last customer of the last committed page, so
a run that stops resumes there, and is cleared when a pass completes. Amounts are read in
the currency's minor unit / 100 (zero-decimal currencies such as JPY are not converted)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any

import stripe as stripe_lib

from connectors.kinds import ConnectorType, MappingField, Page, ReadContext, Record
from connectors.ratelimit import (
    CredentialRejected,
    RateLimited,
    VendorError,
    call_with_backoff,
    parse_retry_after,
)

PAGE_SIZE = 100
LOOKBACK = dt.timedelta(days=30)
MRR_STATUSES = ("active", "past_due")
# Subscriptions that never started billing do not count towards MRR at any time.
NEVER_BILLED = ("incomplete", "incomplete_expired")
# Months per billing interval unit, to turn any price into a monthly amount.
MONTHS_PER = {"day": 12 / 365, "week": 12 / 52, "month": 1.0, "year": 12.0}

METRICS = {
    "mrr": ("MRR", "$", "higher"),
    "mrr_change_pct": ("MRR change (30 days)", "%", "higher"),
    "overdue_invoices": ("Overdue invoices", "", "lower"),
    "failed_payments_30d": ("Failed payments (30 days)", "", "lower"),
}


def classify(exc: Exception) -> Exception | None:
    if isinstance(exc, stripe_lib.RateLimitError):
        headers = exc.headers or {}
        return RateLimited(
            "Stripe: too many requests", retry_after=parse_retry_after(headers.get("Retry-After"))
        )
    if isinstance(exc, stripe_lib.AuthenticationError | stripe_lib.PermissionError):
        return CredentialRejected(
            f"Stripe refused the API key ({exc.http_status}: {exc.user_message or exc}). Enter a"
            " valid restricted key with read access to customers, subscriptions, invoices and charges."
        )
    if isinstance(exc, stripe_lib.APIConnectionError):
        return RateLimited(f"Stripe unreachable: {exc.user_message or exc}")
    if isinstance(exc, stripe_lib.StripeError) and (exc.http_status or 0) >= 500:
        return RateLimited(f"Stripe answered {exc.http_status}")
    if isinstance(exc, stripe_lib.StripeError):
        return VendorError(
            f"Stripe refused a request ({exc.http_status}): {exc.user_message or exc}"
        )
    return None


def client_for(context: ReadContext) -> stripe_lib.StripeClient:
    # No retries inside the library: connectors.ratelimit decides how long to wait.
    if context.api_base:
        return stripe_lib.StripeClient(
            context.credential,
            base_addresses={"api": context.api_base.rstrip("/")},
            max_network_retries=0,
        )
    return stripe_lib.StripeClient(context.credential, max_network_retries=0)


def _call(what: str, call: Any) -> Any:
    return call_with_backoff(call, classify=classify, what=f"Stripe {what}")


def _all(what: str, first_page: Any) -> list[Any]:
    """Every object of a list (as plain dicts), following ``has_more`` with ``starting_after``."""
    page = _call(what, first_page)
    items = [obj.to_dict() for obj in page.data]
    while page.has_more and items:
        page = _call(what, lambda p=page: p.next_page())
        items.extend(obj.to_dict() for obj in page.data)
    return items


def monthly_amount(subscription: Any) -> float:
    """The subscription's recurring amount per month, in the currency's major unit."""
    total = 0.0
    for item in subscription["items"]["data"]:
        price = item["price"]
        recurring = price.get("recurring")
        if not recurring:
            continue
        per_interval = (price.get("unit_amount") or 0) * (item.get("quantity") or 1) / 100
        months = MONTHS_PER[recurring["interval"]] * (recurring.get("interval_count") or 1)
        total += per_interval / months
    return total


def mrr_at(subscriptions: list[Any], moment: dt.datetime | None) -> float:
    """MRR now (``moment`` None: the subscriptions active or past due) or at ``moment``
    (those that had started and not yet ended)."""
    total = 0.0
    for sub in subscriptions:
        if moment is None:
            running = sub["status"] in MRR_STATUSES
        else:
            started = sub.get("start_date") or sub.get("created")
            ended = sub.get("ended_at")
            stamp = moment.timestamp()
            running = (
                sub["status"] not in NEVER_BILLED
                and started is not None
                and started <= stamp
                and (ended is None or ended > stamp)
            )
        if running:
            total += monthly_amount(sub)
    return total


def read(context: ReadContext) -> Iterator[Page]:
    client = client_for(context)
    metadata_key = str(context.mapping.get("metadata_key") or "")
    day = context.now.replace(hour=0, minute=0, second=0, microsecond=0)
    since = context.now - LOOKBACK
    after = context.cursor
    while True:
        params: dict[str, Any] = {"limit": PAGE_SIZE}
        if after:
            params["starting_after"] = after
        page = _call("customers", lambda p=params: client.v1.customers.list(params=p))
        records = [
            _record(
                client,
                customer.to_dict(),
                metadata_key=metadata_key,
                day=day,
                since=since,
                now=context.now,
            )
            for customer in page.data
        ]
        if page.data:
            after = page.data[-1]["id"]
        yield Page(records=records, cursor=after if page.has_more else "")
        if not page.has_more:
            return


def _record(
    client: stripe_lib.StripeClient,
    customer: dict[str, Any],
    *,
    metadata_key: str,
    day: dt.datetime,
    since: dt.datetime,
    now: dt.datetime,
) -> Record:
    customer_id = customer["id"]
    if customer.get("deleted"):
        return Record(vendor_id=customer_id, observed_at=day, skip="deleted in Stripe")
    match: dict[str, str] = {}
    metadata = customer.get("metadata") or {}
    if metadata_key and metadata.get(metadata_key):
        match["external_id"] = str(metadata[metadata_key])
    email = customer.get("email") or ""
    if "@" in email:
        match["domain"] = email.rsplit("@", 1)[1].lower()
    if not match:
        return Record(
            vendor_id=customer_id, observed_at=day, skip="no metadata key or email to match"
        )
    subscriptions = _all(
        "subscriptions",
        lambda: client.v1.subscriptions.list(
            params={"customer": customer_id, "status": "all", "limit": PAGE_SIZE}
        ),
    )
    invoices = _all(
        "invoices",
        lambda: client.v1.invoices.list(
            params={"customer": customer_id, "status": "open", "limit": PAGE_SIZE}
        ),
    )
    charges = _all(
        "charges",
        lambda: client.v1.charges.list(
            params={
                "customer": customer_id,
                "created": {"gte": int(since.timestamp())},
                "limit": PAGE_SIZE,
            }
        ),
    )
    try:
        mrr = mrr_at(subscriptions, None)
        before = mrr_at(subscriptions, since)
    except (KeyError, TypeError) as exc:
        return Record(
            vendor_id=customer_id,
            observed_at=day,
            problem=f"a subscription price cannot be read ({exc!r})",
        )
    stamp = now.timestamp()
    metrics: dict[str, float] = {
        "mrr": round(mrr, 2),
        "overdue_invoices": sum(1 for i in invoices if i.get("due_date") and i["due_date"] < stamp),
        "failed_payments_30d": sum(1 for c in charges if c.get("status") == "failed"),
    }
    if before > 0:
        metrics["mrr_change_pct"] = round(100 * (mrr - before) / before, 2)
    return Record(
        vendor_id=customer_id,
        observed_at=day,
        account={"arr": f"{mrr * 12:.2f}"},
        match=match,
        metrics=metrics,
    )


def metric_definitions(mapping: Mapping[str, Any]) -> dict[str, tuple[str, str, str]]:
    return dict(METRICS)


KIND = ConnectorType(
    kind="stripe",
    label="Stripe",
    credential_label="Secret or restricted API key",
    credential_help=(
        "Stripe Dashboard → Developers → API keys → Create restricted key, with read access"
        " to Customers, Subscriptions, Invoices and Charges (rk_live_…)."
    ),
    mapping_fields=(
        MappingField(
            name="metadata_key",
            label="Customer metadata key holding the account's external id",
            help="Checked first; customers without it are matched by their email's domain.",
            default="chs_account_id",
        ),
    ),
    metric_definitions=metric_definitions,
    read=read,
    creates_accounts=False,
    default_interval_minutes=24 * 60,
)
