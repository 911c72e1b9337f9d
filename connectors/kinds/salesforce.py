"""Salesforce (``simple-salesforce``): Accounts and their won Opportunities → accounts, and
the health score written back to custom fields on each Account.

Read: Accounts whose ``SystemModstamp`` is at or after the cursor, oldest first, through
SOQL (``queryAll``, so deleted Accounts arrive and are skipped), one Salesforce batch (up
to 2 000 records) a page; the cursor moves to the newest stamp of each committed page
(re-reading the records of that same instant is harmless: everything is an upsert). Each
Account sets the account's name, domain (from ``Website``), segment and lifecycle stage
from fields named in the mapping, the owner (``Owner.Email`` = a CHS user's email), ARR
and renewal date from fields or, when those are left blank, from the Account's latest won
Opportunity (its ``Amount``; its ``CloseDate`` plus the contract length; one SOQL query
per page), and metric values from the numeric fields the mapping names. An Account without
a link is matched by domain, else created as ``salesforce-<Account Id>``.

Write-back (``push_scores``): ``CHS_Health_Score__c`` (number), ``CHS_Health_Band__c``
(text) and ``CHS_Health_Updated__c`` (date/time) on Account, 200 Accounts per sObject
Collections call (``allOrNone: false``: an Account Salesforce refuses, deleted say, is
dropped with its reason and the others go). Salesforce creates custom fields only through
its Metadata API, so an admin adds the three fields once (the README says how); a missing
field fails the push with that instruction and the scores wait."""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlparse

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError

from connectors.kinds import (
    ConnectorType,
    MappingField,
    Page,
    PushContext,
    ReadContext,
    Record,
    ScorePush,
)
from connectors.ratelimit import (
    CredentialRejected,
    RateLimited,
    VendorError,
    call_with_backoff,
)

API_VERSION = "59.0"
BATCH_SIZE = 200  # the sObject Collections API's limit per call
WRITE_BACK_FIELDS = ("CHS_Health_Score__c", "CHS_Health_Band__c", "CHS_Health_Updated__c")


def _error_code(exc: SalesforceError) -> str:
    content = exc.content
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("errorCode", ""))
    return ""


def classify(exc: Exception) -> Exception | None:
    if isinstance(exc, SalesforceError):
        code = _error_code(exc)
        if exc.status == 429 or code == "REQUEST_LIMIT_EXCEEDED":
            return RateLimited(f"Salesforce: API limit reached ({code or exc.status})")
        if exc.status in (401, 403):
            return CredentialRejected(
                f"Salesforce refused the session ({exc.status} {code}): the access token was"
                " revoked or expired, or the user lacks access to Accounts and Opportunities."
                " Enter a new access token."
            )
        if exc.status >= 500:
            return RateLimited(f"Salesforce answered {exc.status}")
        return VendorError(
            f"Salesforce refused a request ({exc.status} {code}): {exc.content!r:.200}"
        )
    if isinstance(exc, requests.ConnectionError | requests.Timeout):
        return RateLimited(f"Salesforce unreachable: {exc}")
    return None


def _call(what: str, call: Any) -> Any:
    return call_with_backoff(call, classify=classify, what=f"Salesforce {what}")


def client_for(credential: str, instance_url: str) -> Salesforce:
    return Salesforce(
        instance_url=instance_url,
        session_id=credential,
        version=API_VERSION,
        session=requests.Session(),
    )


def _instance(context_base: str, mapping: Mapping[str, Any]) -> str:
    url = (context_base or str(mapping.get("instance_url") or "")).rstrip("/")
    if urlparse(url).scheme != "https" or not urlparse(url).hostname:
        raise VendorError(
            f"The Salesforce instance URL {url!r} is not an https address such as"
            " https://acme.my.salesforce.com."
        )
    return url


def parse_stamp(value: object) -> dt.datetime | None:
    """A Salesforce datetime (``2026-12-01T10:00:00.000+0000``) or date."""
    if not value:
        return None
    text = str(value)
    if len(text) == 10:
        return dt.datetime.combine(dt.date.fromisoformat(text), dt.time(), dt.UTC)
    if text[-5] in "+-" and text[-3] != ":":
        text = f"{text[:-2]}:{text[-2:]}"
    parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def soql_stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _add_months(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return day.replace(
        year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1])
    )


def _domain(website: object) -> str:
    text = str(website or "").strip().lower()
    if not text:
        return ""
    host = urlparse(text if "://" in text else f"https://{text}").hostname or ""
    return host.removeprefix("www.")


class _Reader:
    def __init__(self, context: ReadContext) -> None:
        self.client = client_for(context.credential, _instance(context.api_base, context.mapping))
        self.mapping = context.mapping
        self.metrics: dict[str, str] = dict(self.mapping.get("metrics") or {})
        self.stages: dict[str, str] = dict(self.mapping.get("lifecycle_stages") or {})
        self.cursor = context.cursor
        self.fields = sorted(
            {
                "Id",
                "Name",
                "Website",
                "IsDeleted",
                "SystemModstamp",
                "Owner.Email",
                *self.metrics,
                *(
                    str(self.mapping.get(name) or "")
                    for name in ("segment_field", "lifecycle_field", "arr_field", "renewal_field")
                ),
            }
            - {""}
        )

    def pages(self) -> Iterator[Page]:
        where = f" WHERE SystemModstamp >= {self.cursor}" if self.cursor else ""
        soql = f"SELECT {', '.join(self.fields)} FROM Account{where} ORDER BY SystemModstamp ASC"
        result = _call("Account query", lambda: self.client.query(soql, include_deleted=True))
        while True:
            rows = result.get("records") or []
            deals = self.latest_deals([r["Id"] for r in rows if not r.get("IsDeleted")])
            records = [self.record(row, deals.get(row["Id"])) for row in rows]
            stamps = [r.observed_at for r in records]
            if stamps:
                self.cursor = soql_stamp(max(stamps))
            yield Page(records=records, cursor=self.cursor, total=result.get("totalSize"))
            if result.get("done", True):
                return
            next_url = result["nextRecordsUrl"]
            result = _call(
                "Account query (next batch)",
                lambda u=next_url: self.client.query_more(u, identifier_is_url=True),
            )

    def latest_deals(self, account_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Account Id → its newest won Opportunity (one query for the page)."""
        if not account_ids or (self.mapping.get("arr_field") and self.mapping.get("renewal_field")):
            return {}
        ids = ", ".join(f"'{i}'" for i in account_ids if i.isalnum())
        soql = (
            "SELECT AccountId, Amount, CloseDate FROM Opportunity"
            f" WHERE IsWon = true AND AccountId IN ({ids}) ORDER BY CloseDate DESC"
        )
        out: dict[str, dict[str, Any]] = {}
        for row in _call("Opportunity query", lambda: list(self.client.query_all_iter(soql))):
            out.setdefault(row["AccountId"], row)
        return out

    def record(self, row: Mapping[str, Any], deal: Mapping[str, Any] | None) -> Record:
        account_id = str(row["Id"])
        modified = parse_stamp(row.get("SystemModstamp")) or dt.datetime.now(dt.UTC)
        if row.get("IsDeleted"):
            return Record(vendor_id=account_id, observed_at=modified, skip="deleted in Salesforce")
        try:
            account, metrics = self._translate(row, deal)
        except ValueError as exc:
            return Record(vendor_id=account_id, observed_at=modified, problem=str(exc))
        return Record(
            vendor_id=account_id,
            observed_at=modified,
            account=account,
            match={"domain": account.get("domain", "")},
            metrics=metrics,
        )

    def _translate(
        self, row: Mapping[str, Any], deal: Mapping[str, Any] | None
    ) -> tuple[dict[str, Any], dict[str, float]]:
        if not row.get("Name"):
            raise ValueError("the Account has no Name")
        account: dict[str, Any] = {"name": row["Name"]}
        if domain := _domain(row.get("Website")):
            account["domain"] = domain
        if field := self.mapping.get("segment_field"):
            account["segment"] = row.get(field) or ""
        stage = row.get(str(self.mapping.get("lifecycle_field") or ""))
        if stage in self.stages:
            account["lifecycle_stage"] = self.stages[stage]
        owner = row.get("Owner") or {}
        if owner.get("Email"):
            account["owner_email"] = owner["Email"]
        arr_field, renewal_field = self.mapping.get("arr_field"), self.mapping.get("renewal_field")
        arr = row.get(arr_field) if arr_field else (deal or {}).get("Amount")
        if arr is not None:
            account["arr"] = arr
        if renewal_field:
            renewal = parse_stamp(row.get(renewal_field))
        elif deal and deal.get("CloseDate"):
            closed = dt.date.fromisoformat(str(deal["CloseDate"]))
            months = int(self.mapping.get("contract_months") or 12)
            renewal = dt.datetime.combine(_add_months(closed, months), dt.time(), dt.UTC)
        else:
            renewal = None
        if renewal is not None:
            account["renewal_date"] = renewal.date()
        metrics: dict[str, float] = {}
        for name, key in self.metrics.items():
            raw = row.get(name)
            if raw is None or raw == "":
                continue
            try:
                metrics[key] = float(raw)
            except (TypeError, ValueError):
                raise ValueError(f"field {name} is {str(raw)[:40]!r}, not a number") from None
        return account, metrics


def read(context: ReadContext) -> Iterator[Page]:
    return _Reader(context).pages()


def metric_definitions(mapping: Mapping[str, Any]) -> dict[str, tuple[str, str, str]]:
    return {
        key: (f"Salesforce {name}", "", "higher")
        for name, key in dict(mapping.get("metrics") or {}).items()
    }


def push_scores(context: PushContext, items: Sequence[ScorePush]) -> None:
    """Write each Account's score, band and time, 200 Accounts per sObject Collections call."""
    client = client_for(context.credential, _instance(context.api_base, context.mapping))
    if not context.state.get("fields_ready"):
        described = _call("describe Account", lambda: client.restful("sobjects/Account/describe"))
        have = {f["name"] for f in described.get("fields") or []}
        missing = [f for f in WRITE_BACK_FIELDS if f not in have]
        if missing:
            raise VendorError(
                "Salesforce Accounts lack the write-back fields "
                + ", ".join(missing)
                + ": add them in Setup → Object Manager → Account → Fields & Relationships"
                " (number, text and date/time), then the scores are sent on the next run."
            )
        context.state["fields_ready"] = True
    for start in range(0, len(items), BATCH_SIZE):
        chunk = items[start : start + BATCH_SIZE]
        body = {
            "allOrNone": False,
            "records": [
                {
                    "attributes": {"type": "Account"},
                    "id": item.vendor_id,
                    "CHS_Health_Score__c": item.score,
                    "CHS_Health_Band__c": item.band,
                    "CHS_Health_Updated__c": soql_stamp(item.changed_at),
                }
                for item in chunk
            ],
        }
        results = _call(
            "update Accounts",
            lambda b=body: client.restful("composite/sobjects", method="PATCH", json=b),
        )
        accepted = {r.get("id") for r in results or [] if r.get("success")}
        if accepted:
            context.sent([item for item in chunk if item.vendor_id in accepted])
        by_id = {item.vendor_id: item for item in chunk}
        for result in results or []:
            if result.get("success") or result.get("id") not in by_id:
                continue
            error = (result.get("errors") or [{}])[0]
            context.refused(
                [by_id[result["id"]]],
                f"Salesforce refused the update: {error.get('statusCode', '')}"
                f" {error.get('message', '')}".strip(),
            )


KIND = ConnectorType(
    kind="salesforce",
    label="Salesforce",
    credential_label="Access token",
    credential_help=(
        "An OAuth access token of an integration user with read access to Accounts and"
        " Opportunities and edit access to the three CHS fields (Setup → App Manager →"
        " a connected app with the 'api' scope; or `sf org display --verbose`)."
    ),
    mapping_fields=(
        MappingField(
            "instance_url",
            "Instance URL",
            "Your org's address, such as https://acme.my.salesforce.com.",
            "",
        ),
        MappingField("segment_field", "Segment field", "Blank: not set from Salesforce.", ""),
        MappingField("lifecycle_field", "Lifecycle stage field", "", "Type"),
        MappingField(
            "lifecycle_stages",
            "Lifecycle stages",
            "One per line: Salesforce value = CHS stage (onboarding, adoption, expansion, renewal, churned).",
            {
                "Customer - Direct": "adoption",
                "Customer - Channel": "adoption",
                "Prospect": "onboarding",
            },
            kind="pairs",
        ),
        MappingField(
            "arr_field",
            "ARR field",
            "Blank: the Amount of the Account's latest won Opportunity.",
            "",
        ),
        MappingField(
            "renewal_field",
            "Renewal date field",
            "Blank: the latest won Opportunity's close date plus the contract length.",
            "",
        ),
        MappingField("contract_months", "Contract length (months)", "", "12"),
        MappingField(
            "metrics",
            "Numeric fields → metrics",
            "One per line: Account field = CHS metric key (created if missing).",
            {"NumberOfEmployees": "salesforce_employees"},
            kind="metrics",
        ),
    ),
    metric_definitions=metric_definitions,
    read=read,
    creates_accounts=True,
    push=push_scores,
)
