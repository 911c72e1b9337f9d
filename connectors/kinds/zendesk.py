"""Zendesk Support (its REST API through ``requests``): organizations → the accounts they
belong to, and four support metrics per account.

An organization is matched to an account by its ``external_id`` (the account's external
id), else by one of its ``domain_names``; unmatched organizations are skipped (Zendesk
never creates accounts). For each, from its tickets (``/organizations/{id}/tickets``):

- ``open_tickets``: tickets not yet solved (new, open, pending, on hold);
- ``urgent_tickets``: those of them with priority urgent;
- ``ticket_csat``: the share of good satisfaction ratings (0–100) on its tickets rated in
  the last 90 days (``/satisfaction_ratings``, read once per run);
- ``first_reply_hours``: the average first reply time (calendar hours, from each ticket's
  metrics) of its tickets created in the last 30 days;

observed at the start of the day, so a second run on the same day writes nothing new.
Like Stripe, a run walks every organization (cursor pagination, 100 a page): ticket counts
change without the organization changing. The cursor holds the page to resume from and is
cleared when a pass completes.

The credential is an API token written ``agent@example.com/token:abc…`` (HTTP Basic, as
Zendesk documents it) or an OAuth access token (Bearer)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any

import requests

from connectors.kinds import ConnectorType, MappingField, Page, ReadContext, Record
from connectors.ratelimit import (
    CredentialRejected,
    RateLimited,
    VendorError,
    call_with_backoff,
    parse_retry_after,
)

PAGE_SIZE = 100
TIMEOUT = (5, 30)  # connect, read (seconds)
CSAT_DAYS = 90
REPLY_DAYS = 30
UNSOLVED = ("new", "open", "pending", "hold")

METRICS = {
    "open_tickets": ("Open support tickets", "tickets", "lower"),
    "urgent_tickets": ("Urgent support tickets", "tickets", "lower"),
    "ticket_csat": ("Support CSAT", "% good", "higher"),
    "first_reply_hours": ("First reply time", "hours", "lower"),
}


class _Answer(Exception):
    """A non-2xx answer, kept for ``classify``."""

    def __init__(self, response: requests.Response) -> None:
        super().__init__(f"{response.status_code} {response.reason}")
        self.response = response


def classify(exc: Exception) -> Exception | None:
    if isinstance(exc, _Answer):
        status = exc.response.status_code
        if status == 429:
            return RateLimited(
                "Zendesk: too many requests",
                retry_after=parse_retry_after(exc.response.headers.get("Retry-After")),
            )
        if status in (401, 403):
            return CredentialRejected(
                f"Zendesk refused the credential ({status}): the API token was deleted, the"
                " agent lost access or the OAuth token expired. Enter a new API token as"
                " agent@example.com/token:… and save."
            )
        if status >= 500:
            return RateLimited(f"Zendesk answered {status}")
        return VendorError(f"Zendesk refused a request ({status}): {exc.response.text[:200]}")
    if isinstance(exc, requests.ConnectionError | requests.Timeout):
        return RateLimited(f"Zendesk unreachable: {exc}")
    return None


class _Client:
    def __init__(self, context: ReadContext) -> None:
        subdomain = str(context.mapping.get("subdomain") or "").strip()
        self.base = (context.api_base or f"https://{subdomain}.zendesk.com").rstrip("/")
        self.session = requests.Session()
        user, marker, token = context.credential.partition("/token:")
        if marker:
            self.session.auth = (f"{user}/token", token)
        else:
            self.session.headers["Authorization"] = f"Bearer {context.credential}"

    def get(self, what: str, path_or_url: str, params: Mapping[str, Any] | None = None) -> Any:
        url = path_or_url if "://" in path_or_url else f"{self.base}/api/v2/{path_or_url}"

        def call() -> Any:
            response = self.session.get(url, params=params, timeout=TIMEOUT)
            if not response.ok:
                raise _Answer(response)
            return response.json()

        return call_with_backoff(call, classify=classify, what=f"Zendesk {what}")

    def each(self, what: str, path: str, key: str, params: Mapping[str, Any]) -> Iterator[Any]:
        """Every object of a list, following cursor pagination (``meta.has_more``,
        ``links.next``)."""
        body = self.get(what, path, {**params, "page[size]": PAGE_SIZE})
        while True:
            yield from body.get(key) or []
            if not (body.get("meta") or {}).get("has_more"):
                return
            body = self.get(what, body["links"]["next"])


def read(context: ReadContext) -> Iterator[Page]:
    client = _Client(context)
    day = context.now.replace(hour=0, minute=0, second=0, microsecond=0)
    csat = _csat_by_ticket(client, since=context.now - dt.timedelta(days=CSAT_DAYS))
    replies_since = context.now - dt.timedelta(days=REPLY_DAYS)
    params: dict[str, Any] = {"page[size]": PAGE_SIZE}
    if context.cursor:
        params["page[after]"] = context.cursor
    body = client.get("organizations", "organizations", params)
    while True:
        records = [
            _record(client, org, csat=csat, day=day, replies_since=replies_since)
            for org in body.get("organizations") or []
        ]
        meta = body.get("meta") or {}
        more = bool(meta.get("has_more"))
        yield Page(records=records, cursor=str(meta.get("after_cursor") or "") if more else "")
        if not more:
            return
        body = client.get("organizations", body["links"]["next"])


def _csat_by_ticket(client: _Client, *, since: dt.datetime) -> dict[int, bool]:
    """Ticket id → rated good, for the offered-and-answered ratings since ``since``."""
    out: dict[int, bool] = {}
    for rating in client.each(
        "satisfaction ratings",
        "satisfaction_ratings",
        "satisfaction_ratings",
        {"score": "received", "start_time": int(since.timestamp())},
    ):
        if rating.get("score") in ("good", "bad") and rating.get("ticket_id") is not None:
            out[int(rating["ticket_id"])] = rating["score"] == "good"
    return out


def _record(
    client: _Client,
    org: dict[str, Any],
    *,
    csat: dict[int, bool],
    day: dt.datetime,
    replies_since: dt.datetime,
) -> Record:
    org_id = str(org.get("id", ""))
    if org.get("deleted_at"):
        return Record(vendor_id=org_id, observed_at=day, skip="deleted in Zendesk")
    match: dict[str, str] = {}
    if org.get("external_id"):
        match["external_id"] = str(org["external_id"])
    domains = [str(d).lower() for d in org.get("domain_names") or [] if d]
    if domains:
        match["domain"] = domains[0]
    if not match:
        return Record(vendor_id=org_id, observed_at=day, skip="no external id or domain to match")
    tickets = list(client.each("tickets", f"organizations/{org_id}/tickets", "tickets", {}))
    try:
        unsolved = [t for t in tickets if t["status"] in UNSOLVED]
        rated = [csat[t["id"]] for t in tickets if t["id"] in csat]
        recent = [t["id"] for t in tickets if _parse_time(t["created_at"]) >= replies_since]
    except (KeyError, TypeError, ValueError) as exc:
        return Record(
            vendor_id=org_id, observed_at=day, problem=f"a ticket cannot be read ({exc!r})"
        )
    metrics: dict[str, float] = {
        "open_tickets": float(len(unsolved)),
        "urgent_tickets": float(sum(1 for t in unsolved if t.get("priority") == "urgent")),
    }
    if rated:
        metrics["ticket_csat"] = round(100 * sum(rated) / len(rated), 1)
    minutes = [
        m for ticket_id in recent if (m := _first_reply_minutes(client, ticket_id)) is not None
    ]
    if minutes:
        metrics["first_reply_hours"] = round(sum(minutes) / len(minutes) / 60, 2)
    return Record(vendor_id=org_id, observed_at=day, match=match, metrics=metrics)


def _first_reply_minutes(client: _Client, ticket_id: int) -> float | None:
    body = client.get("ticket metrics", f"tickets/{ticket_id}/metrics")
    reply = ((body.get("ticket_metric") or {}).get("reply_time_in_minutes") or {}).get("calendar")
    return float(reply) if reply is not None else None


def _parse_time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def metric_definitions(mapping: Mapping[str, Any]) -> dict[str, tuple[str, str, str]]:
    return dict(METRICS)


KIND = ConnectorType(
    kind="zendesk",
    label="Zendesk",
    credential_label="API token (agent@example.com/token:…) or OAuth access token",
    credential_help=(
        "Zendesk Admin Center → Apps and integrations → Zendesk API → add an API token; enter"
        " it as the admin's email, '/token:', then the token (read access to organizations,"
        " tickets and satisfaction ratings)."
    ),
    mapping_fields=(
        MappingField(
            name="subdomain",
            label="Zendesk subdomain",
            help="The 'acme' of acme.zendesk.com.",
            default="",
        ),
    ),
    metric_definitions=metric_definitions,
    read=read,
    creates_accounts=False,
    default_interval_minutes=6 * 60,
)
