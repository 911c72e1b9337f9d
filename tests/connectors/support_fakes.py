"""Local stand-ins for Zendesk's and Salesforce's REST APIs, in the shapes they document
(Zendesk: cursor pagination with ``meta``/``links``, ticket metrics, satisfaction ratings,
its error bodies; Salesforce: SOQL ``query``/``queryAll`` batches with ``nextRecordsUrl``,
``describe``, sObject Collections, its error lists). Salesforce's client only speaks HTTPS,
so its fake is served with a certificate from a local CA (trustme) that the test trusts."""

from __future__ import annotations

import base64
import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlparse

from werkzeug import Request, Response

from tests.connectors.fakes import _Base, _json


def zendesk_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class ZendeskFake(_Base):
    email: str = "admin@acme.example"
    page_size: int = 100
    organizations: list[dict[str, Any]] = field(default_factory=list)
    tickets: list[dict[str, Any]] = field(default_factory=list)
    reply_minutes: dict[int, float] = field(default_factory=dict)
    ratings: list[dict[str, Any]] = field(default_factory=list)

    def install(self) -> ZendeskFake:
        routes = (
            ("/api/v2/organizations", self._organizations),
            (re.compile(r"/api/v2/organizations/\d+/tickets$"), self._org_tickets),
            (re.compile(r"/api/v2/tickets/\d+/metrics$"), self._metrics),
            ("/api/v2/satisfaction_ratings", self._ratings),
        )
        for path, handler in routes:
            self.server.expect_request(path, method="GET").respond_with_handler(
                self._serve(handler)
            )
        return self

    def _serve(self, handler: Any) -> Any:
        def wrapped(request: Request) -> Response:
            self.requests.append((request.method, request.path, dict(request.args)))
            basic = base64.b64encode(f"{self.email}/token:{self.token}".encode()).decode()
            if request.headers.get("Authorization") not in (
                f"Bearer {self.token}",
                f"Basic {basic}",
            ):
                return _json(self.error_body(401), 401)
            if self.failures:
                return self.failures.pop(0)
            return handler(request)

        return wrapped

    def error_body(self, status: int) -> Any:
        if status == 401:
            return {"error": "Couldn't authenticate you"}
        if status == 429:
            return {"error": "APIRateLimitExceeded", "description": "Rate limit exceeded"}
        return {"error": "InternalError", "description": "Something went wrong"}

    def _page(self, request: Request, key: str, items: list[dict[str, Any]]) -> Response:
        size = min(int(request.args.get("page[size]", 100)), self.page_size)
        after = request.args.get("page[after]")
        start = int(after) if after else 0
        chunk = items[start : start + size]
        more = start + size < len(items)
        nxt = f"{self.url}{request.path}?page[size]={size}&page[after]={start + size}"
        return _json(
            {
                key: chunk,
                "meta": {
                    "has_more": more,
                    "after_cursor": str(start + size) if more else None,
                    "before_cursor": str(start) if start else None,
                },
                "links": {"next": nxt if more else None, "prev": None},
            }
        )

    def _organizations(self, request: Request) -> Response:
        return self._page(request, "organizations", self.organizations)

    def _org_tickets(self, request: Request) -> Response:
        org = int(request.path.split("/")[4])
        mine = [t for t in self.tickets if t["organization_id"] == org]
        return self._page(request, "tickets", mine)

    def _metrics(self, request: Request) -> Response:
        ticket = int(request.path.split("/")[4])
        minutes = self.reply_minutes.get(ticket)
        reply = {"calendar": minutes, "business": minutes} if minutes is not None else None
        return _json({"ticket_metric": {"ticket_id": ticket, "reply_time_in_minutes": reply or {}}})

    def _ratings(self, request: Request) -> Response:
        since = int(request.args.get("start_time", 0))
        wanted = [
            r
            for r in self.ratings
            if dt.datetime.fromisoformat(r["created_at"].replace("Z", "+00:00")).timestamp()
            >= since
        ]
        return self._page(request, "satisfaction_ratings", wanted)

    def add_org(self, org_id: int, name: str, **fields: Any) -> None:
        self.organizations.append(
            {
                "id": org_id,
                "url": f"{self.url}/api/v2/organizations/{org_id}.json",
                "name": name,
                "external_id": None,
                "domain_names": [],
                "created_at": "2025-01-01T00:00:00Z",
                "updated_at": "2026-11-01T00:00:00Z",
                "deleted_at": None,
                **fields,
            }
        )

    def add_ticket(
        self,
        ticket_id: int,
        org_id: int,
        *,
        status: str = "open",
        priority: str | None = "normal",
        created: dt.datetime,
        reply_minutes: float | None = None,
        rating: str | None = None,
    ) -> None:
        self.tickets.append(
            {
                "id": ticket_id,
                "organization_id": org_id,
                "status": status,
                "priority": priority,
                "subject": f"Ticket {ticket_id}",
                "created_at": zendesk_time(created),
                "updated_at": zendesk_time(created),
            }
        )
        if reply_minutes is not None:
            self.reply_minutes[ticket_id] = reply_minutes
        if rating is not None:
            self.ratings.append(
                {
                    "id": 9000 + ticket_id,
                    "ticket_id": ticket_id,
                    "score": rating,
                    "created_at": zendesk_time(created + dt.timedelta(days=1)),
                }
            )


def sf_stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


API = "/services/data/v59.0"


@dataclass
class SalesforceFake(_Base):
    batch_size: int = 2000
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    opportunities: list[dict[str, Any]] = field(default_factory=list)
    account_fields: set[str] = field(
        default_factory=lambda: {
            "Id",
            "Name",
            "Website",
            "CHS_Health_Score__c",
            "CHS_Health_Band__c",
            "CHS_Health_Updated__c",
        }
    )
    _pending: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def install(self) -> SalesforceFake:
        routes = (
            (f"{API}/queryAll/", "GET", self._query),
            (f"{API}/query/", "GET", self._query),
            (re.compile(rf"{API}/query/01g[\w-]+"), "GET", self._more),
            (f"{API}/sobjects/Account/describe", "GET", self._describe),
            (f"{API}/composite/sobjects", "PATCH", self._update),
        )
        for path, method, handler in routes:
            self.server.expect_request(path, method=method).respond_with_handler(
                self._serve(handler)
            )
        return self

    def error_body(self, status: int) -> Any:
        if status == 401:
            return [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
        if status == 403:
            return [
                {
                    "message": "TotalRequests Limit exceeded.",
                    "errorCode": "REQUEST_LIMIT_EXCEEDED",
                }
            ]
        return [{"message": "An unexpected error occurred", "errorCode": "UNKNOWN_EXCEPTION"}]

    def add_account(self, account_id: str, modified: dt.datetime, **fields: Any) -> None:
        owner = fields.pop("owner_email", None)
        self.accounts[account_id] = {
            "attributes": {"type": "Account", "url": f"{API}/sobjects/Account/{account_id}"},
            "Id": account_id,
            "IsDeleted": False,
            "SystemModstamp": sf_stamp(modified),
            "Owner": {"attributes": {"type": "User"}, "Email": owner} if owner else None,
            **fields,
        }

    def _batch(self, rows: list[dict[str, Any]]) -> Response:
        first, rest = rows[: self.batch_size], rows[self.batch_size :]
        body: dict[str, Any] = {"totalSize": len(rows), "done": not rest, "records": first}
        if rest:
            locator = f"01gD0000000{len(self._pending)}-{self.batch_size}"
            self._pending[locator] = rest
            body["nextRecordsUrl"] = f"{API}/query/{locator}"
        return _json(body)

    def _query(self, request: Request) -> Response:
        soql = parse_qs(urlparse(request.url).query)["q"][0]
        if "FROM Opportunity" in soql:
            ids = set(re.findall(r"'(\w+)'", soql))
            rows = [o for o in self.opportunities if o["AccountId"] in ids and o["IsWon"]]
            rows.sort(key=lambda o: o["CloseDate"], reverse=True)
            return self._batch(rows)
        rows = sorted(self.accounts.values(), key=lambda a: a["SystemModstamp"])
        if "queryAll" not in request.path:
            rows = [r for r in rows if not r["IsDeleted"]]
        since = re.search(r"SystemModstamp >= (\S+)", soql)
        if since:
            moment = dt.datetime.fromisoformat(since.group(1).replace("Z", "+00:00"))
            rows = [r for r in rows if r["SystemModstamp"] >= sf_stamp(moment)]
        return self._batch(rows)

    def _more(self, request: Request) -> Response:
        locator = request.path.rsplit("/", 1)[1]
        return self._batch(self._pending.pop(locator))

    def _describe(self, request: Request) -> Response:
        return _json({"name": "Account", "fields": [{"name": f} for f in self.account_fields]})

    def _update(self, request: Request) -> Response:
        results = []
        for record in request.get_json()["records"]:
            target = self.accounts.get(record["id"])
            if target is None:
                results.append(
                    {
                        "id": record["id"],
                        "success": False,
                        "errors": [
                            {"statusCode": "ENTITY_IS_DELETED", "message": "entity is deleted"}
                        ],
                    }
                )
                continue
            target.update({k: v for k, v in record.items() if k not in ("attributes", "id")})
            results.append({"id": record["id"], "success": True, "errors": []})
        return _json(results)
