"""HubSpot (the official ``hubspot-api-client``): companies → accounts, and the health
score written back to each company.

Read: companies modified since the cursor (``hs_lastmodifieddate``, epoch ms) through the
CRM search API, oldest first, 100 a page with ``after``; the search API stops at 10 000
results, so past that the search starts again from the newest time read. Each company
sets the account's name, domain, segment and lifecycle stage from properties (names in
the mapping), the owner (the HubSpot owner's email = a CHS user's email), ARR and renewal
date from properties or, when those are left blank, from the company's latest deal in a
closed-won/renewal stage (its amount; its close date plus the contract length), and
metric values from the numeric properties the mapping names, observed at the company's
last modification. A company without a link is matched by domain, else created as
``hubspot-<company id>``. Archived companies are skipped.

Write-back (``push_scores``): the properties ``chs_health_score``, ``chs_health_band`` and
``chs_health_updated_at`` are created on first use (properties API), then set through the
batch update API, 100 companies a call."""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from hubspot import HubSpot
from hubspot.crm import companies, deals, owners, properties
from urllib3.exceptions import HTTPError as TransportError

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
    parse_retry_after,
)

PAGE_SIZE = 100
SEARCH_LIMIT = 10_000  # the search API returns at most this many results per query
BATCH_SIZE = 100  # the batch update API's limit per call
MODIFIED = "hs_lastmodifieddate"
API_ERRORS = (
    companies.ApiException,
    deals.ApiException,
    owners.ApiException,
    properties.ApiException,
)
WRITE_BACK_PROPERTIES = {
    "chs_health_score": ("CHS health score", "number", "number"),
    "chs_health_band": ("CHS health band", "string", "text"),
    "chs_health_updated_at": ("CHS health updated at", "datetime", "date"),
}


def classify(exc: Exception) -> Exception | None:
    if isinstance(exc, API_ERRORS):
        status = exc.status or 0
        if status == 429:
            retry_after = parse_retry_after((exc.headers or {}).get("Retry-After"))
            return RateLimited("HubSpot: too many requests", retry_after=retry_after)
        if status in (401, 403):
            return CredentialRejected(
                f"HubSpot refused the access token ({status} {exc.reason}): it was revoked,"
                " expired or lacks a scope. Create a new private-app token with the crm.objects"
                " companies, deals and owners scopes and enter it again."
            )
        if status >= 500:
            return RateLimited(f"HubSpot answered {status}")
        return VendorError(f"HubSpot refused a request ({status} {exc.reason}).")
    if isinstance(exc, TransportError):
        return RateLimited(f"HubSpot unreachable: {exc}")
    return None


def _call(what: str, call: Any) -> Any:
    return call_with_backoff(call, classify=classify, what=f"HubSpot {what}")


def client_for(credential: str, api_base: str) -> HubSpot:
    if api_base:
        return HubSpot(access_token=credential, host=api_base.rstrip("/"))
    return HubSpot(access_token=credential)


# --- reading -----------------------------------------------------------------------------


def parse_time(value: object) -> dt.datetime | None:
    """A HubSpot date or datetime property: ISO 8601 or epoch milliseconds."""
    if value in (None, ""):
        return None
    text = str(value)
    if text.isdigit():
        return dt.datetime.fromtimestamp(int(text) / 1000, tz=dt.UTC)
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _add_months(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return day.replace(
        year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1])
    )


def _millis(moment: dt.datetime) -> str:
    return str(int(moment.timestamp() * 1000))


class _Reader:
    def __init__(self, context: ReadContext) -> None:
        self.client = client_for(context.credential, context.api_base)
        self.mapping = context.mapping
        self.cursor = context.cursor
        self._owners: dict[str, str] | None = None
        self.metrics: dict[str, str] = dict(self.mapping.get("metrics") or {})
        self.stages: dict[str, str] = dict(self.mapping.get("lifecycle_stages") or {})
        self.deal_stages = [
            s.strip() for s in str(self.mapping.get("deal_stages") or "").split(",") if s.strip()
        ]
        self.properties = sorted(
            {
                MODIFIED,
                "hubspot_owner_id",
                *self.metrics,
                *(
                    str(self.mapping.get(name) or "")
                    for name in (
                        "name_property",
                        "domain_property",
                        "segment_property",
                        "lifecycle_property",
                        "arr_property",
                        "renewal_property",
                    )
                ),
            }
            - {""}
        )

    def owner_emails(self) -> dict[str, str]:
        """HubSpot owner id → email, read once per run (owners API, paged with ``after``)."""
        if self._owners is None:
            found: dict[str, str] = {}
            after = None
            while True:
                page = _call(
                    "owners",
                    lambda a=after: self.client.crm.owners.owners_api.get_page(limit=500, after=a),
                )
                found.update({str(o.id): o.email for o in page.results if o.email})
                after = page.paging.next.after if page.paging and page.paging.next else None
                if not after:
                    break
            self._owners = found
        return self._owners

    def pages(self) -> Iterator[Page]:
        after: str | None = None
        since = self.cursor
        while True:
            filters = (
                [companies.Filter(property_name=MODIFIED, operator="GTE", value=since)]
                if since
                else []
            )
            request = companies.PublicObjectSearchRequest(
                filter_groups=[companies.FilterGroup(filters=filters)] if filters else [],
                sorts=[{"propertyName": MODIFIED, "direction": "ASCENDING"}],
                properties=self.properties,
                limit=PAGE_SIZE,
                after=after,
            )
            result = _call(
                "company search",
                lambda r=request: self.client.crm.companies.search_api.do_search(
                    public_object_search_request=r
                ),
            )
            records = [self.record(company) for company in result.results]
            newest = max((r.observed_at for r in records), default=None)
            if newest is not None:
                self.cursor = _millis(newest)
            yield Page(records=records, cursor=self.cursor, total=result.total)
            after = result.paging.next.after if result.paging and result.paging.next else None
            if not after:
                return
            if int(after) >= SEARCH_LIMIT:  # the search API's ceiling: search again from here
                since, after = self.cursor, None

    def record(self, company: Any) -> Record:
        props: dict[str, Any] = company.properties or {}
        modified = parse_time(props.get(MODIFIED)) or company.updated_at
        if company.archived:
            return Record(vendor_id=company.id, observed_at=modified, skip="archived in HubSpot")
        try:
            account, metrics = self._translate(company.id, props)
        except ValueError as exc:
            return Record(vendor_id=company.id, observed_at=modified, problem=str(exc))
        return Record(
            vendor_id=company.id,
            observed_at=modified,
            account=account,
            match={"domain": account.get("domain", "")},
            metrics=metrics,
        )

    def _prop(self, props: Mapping[str, Any], setting: str) -> Any:
        name = str(self.mapping.get(setting) or "")
        return props.get(name) if name else None

    def _translate(self, company_id: str, props: Mapping[str, Any]) -> tuple[dict, dict]:
        account: dict[str, Any] = {}
        name = self._prop(props, "name_property")
        if not name:
            raise ValueError(f"the company has no {self.mapping.get('name_property')!r}")
        account["name"] = name
        for setting, field in (("domain_property", "domain"), ("segment_property", "segment")):
            value = self._prop(props, setting)
            if value is not None:
                account[field] = value
        stage = self._prop(props, "lifecycle_property")
        if stage in self.stages:
            account["lifecycle_stage"] = self.stages[stage]
        owner_id = props.get("hubspot_owner_id")
        if owner_id:
            account["owner_email"] = self.owner_emails().get(str(owner_id), "")
        arr = self._prop(props, "arr_property")
        renewal = parse_time(self._prop(props, "renewal_property"))
        needs_deal = not self.mapping.get("arr_property") or not self.mapping.get(
            "renewal_property"
        )
        if needs_deal and self.deal_stages:
            deal = self.latest_deal(company_id)
            if deal is not None:
                if not self.mapping.get("arr_property"):
                    arr = deal.get("amount")
                closed = parse_time(deal.get("closedate"))
                if not self.mapping.get("renewal_property") and closed is not None:
                    months = int(self.mapping.get("contract_months") or 12)
                    renewal = dt.datetime.combine(
                        _add_months(closed.date(), months), dt.time(), dt.UTC
                    )
        if arr not in (None, ""):
            account["arr"] = arr
        if renewal is not None:
            account["renewal_date"] = renewal.date()
        metrics: dict[str, float] = {}
        for prop, key in self.metrics.items():
            raw = props.get(prop)
            if raw in (None, ""):
                continue
            try:
                metrics[key] = float(str(raw))
            except ValueError:
                raise ValueError(f"property {prop} is {str(raw)[:40]!r}, not a number") from None
        return account, metrics

    def latest_deal(self, company_id: str) -> dict[str, Any] | None:
        """The company's newest deal (by close date) in one of the mapping's deal stages."""
        request = deals.PublicObjectSearchRequest(
            filter_groups=[
                deals.FilterGroup(
                    filters=[
                        deals.Filter(
                            property_name="associations.company", operator="EQ", value=company_id
                        ),
                        deals.Filter(
                            property_name="dealstage", operator="IN", values=self.deal_stages
                        ),
                    ]
                )
            ],
            sorts=[{"propertyName": "closedate", "direction": "DESCENDING"}],
            properties=["amount", "closedate", "dealstage"],
            limit=1,
        )
        result = _call(
            "deal search",
            lambda: self.client.crm.deals.search_api.do_search(
                public_object_search_request=request
            ),
        )
        return dict(result.results[0].properties or {}) if result.results else None


def read(context: ReadContext) -> Iterator[Page]:
    return _Reader(context).pages()


def metric_definitions(mapping: Mapping[str, Any]) -> dict[str, tuple[str, str, str]]:
    return {
        key: (f"HubSpot {prop.replace('_', ' ')}", "", "higher")
        for prop, key in dict(mapping.get("metrics") or {}).items()
    }


# --- write-back --------------------------------------------------------------------------


def ensure_properties(client: HubSpot) -> None:
    """Create the write-back properties the portal does not have yet."""
    core = client.crm.properties.core_api
    for name, (label, type_, field_type) in WRITE_BACK_PROPERTIES.items():
        try:
            core.get_by_name("companies", name)
            continue
        except properties.ApiException as exc:
            if exc.status != 404:
                mapped = classify(exc)
                raise (mapped or exc) from exc
        _call(
            f"create property {name}",
            lambda n=name, lb=label, t=type_, f=field_type: core.create(
                "companies",
                properties.PropertyCreate(
                    name=n,
                    label=lb,
                    type=t,
                    field_type=f,
                    group_name="companyinformation",
                    description="Written by CHS after each score change.",
                ),
            ),
        )


def push_scores(context: PushContext, items: Sequence[ScorePush]) -> None:
    """Write each company's score, band and time, 100 companies per batch call."""
    client = client_for(context.credential, context.api_base)
    if not context.state.get("properties_ready"):
        ensure_properties(client)
        context.state["properties_ready"] = True
    for start in range(0, len(items), BATCH_SIZE):
        _push_batch(client, context, items[start : start + BATCH_SIZE])


def _push_batch(client: HubSpot, context: PushContext, chunk: Sequence[ScorePush]) -> None:
    """One batch update. HubSpot refuses a whole batch for one company it cannot update (a
    deleted one): then the halves are sent again, down to the one it refuses, which is
    dropped with HubSpot's reason, so one bad record never holds the others."""
    batch = companies.BatchInputSimplePublicObjectBatchInput(
        inputs=[
            companies.SimplePublicObjectBatchInput(
                id=item.vendor_id,
                properties={
                    "chs_health_score": "" if item.score is None else f"{item.score:g}",
                    "chs_health_band": item.band,
                    "chs_health_updated_at": _millis(item.changed_at),
                },
            )
            for item in chunk
        ]
    )
    try:
        _call(
            "batch update",
            lambda: client.crm.companies.batch_api.update(
                batch_input_simple_public_object_batch_input=batch
            ),
        )
    except VendorError as exc:  # refused for its content, not for the credential or limits
        if len(chunk) == 1:
            context.refused(chunk, exc.message)
            return
        middle = len(chunk) // 2
        _push_batch(client, context, chunk[:middle])
        _push_batch(client, context, chunk[middle:])
        return
    context.sent(chunk)


KIND = ConnectorType(
    kind="hubspot",
    label="HubSpot",
    credential_label="Private app access token",
    credential_help=(
        "HubSpot → Settings → Integrations → Private apps → Create a private app with the"
        " scopes crm.objects.companies.read/write, crm.objects.deals.read,"
        " crm.objects.owners.read and crm.schemas.companies.write; copy its access token (pat-…)."
    ),
    mapping_fields=(
        MappingField(
            "name_property", "Name property", "Company property for the account's name.", "name"
        ),
        MappingField(
            "domain_property", "Domain property", "Also used to match existing accounts.", "domain"
        ),
        MappingField(
            "segment_property",
            "Segment property",
            "Blank: the segment is not set from HubSpot.",
            "",
        ),
        MappingField("lifecycle_property", "Lifecycle stage property", "", "lifecyclestage"),
        MappingField(
            "lifecycle_stages",
            "Lifecycle stages",
            "One per line: HubSpot value = CHS stage (onboarding, adoption, expansion, renewal, churned).",
            {"opportunity": "onboarding", "customer": "adoption", "evangelist": "expansion"},
            kind="pairs",
        ),
        MappingField(
            "arr_property",
            "ARR property",
            "Blank: the amount of the latest deal in the stages below.",
            "",
        ),
        MappingField(
            "renewal_property",
            "Renewal date property",
            "Blank: the latest deal's close date plus the contract length.",
            "",
        ),
        MappingField(
            "deal_stages",
            "Closed-won and renewal deal stages",
            "Deal stage ids, separated by commas.",
            "closedwon",
        ),
        MappingField("contract_months", "Contract length (months)", "", "12"),
        MappingField(
            "metrics",
            "Numeric properties → metrics",
            "One per line: HubSpot property = CHS metric key (created if missing).",
            {
                "num_associated_contacts": "hubspot_contacts",
                "num_associated_deals": "hubspot_deals",
            },
            kind="metrics",
        ),
    ),
    metric_definitions=metric_definitions,
    read=read,
    creates_accounts=True,
    push=push_scores,
)
