"""Local stand-ins for HubSpot's and Stripe's APIs, served by pytest-httpserver on
loopback and answering in the shapes the vendors document (CRM v3 objects, search,
owners, properties and batch endpoints; Stripe's list objects and error bodies), so the
connectors are tested through the real client libraries.

Each fake keeps its records in memory, logs the requests it answered, checks the bearer
credential (401 in the vendor's error shape otherwise) and can be told to answer the next
requests with a failure (``fail_next``: a 429 with ``Retry-After``, a 500)."""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response


def iso(moment: dt.datetime) -> str:
    return (
        moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{moment.microsecond // 1000:03d}Z"
    )


def millis(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body), status=status, headers=headers, content_type="application/json"
    )


@dataclass
class _Base:
    server: HTTPServer
    token: str
    failures: list[Response] = field(default_factory=list)
    requests: list[tuple[str, str, Any]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url_for("").rstrip("/")

    def fail_next(self, status: int, *, times: int = 1, retry_after: str | None = None) -> None:
        for _ in range(times):
            headers = {"Retry-After": retry_after} if retry_after is not None else None
            self.failures.append(_json(self.error_body(status), status, headers))

    def error_body(self, status: int) -> Any:
        raise NotImplementedError

    def _serve(self, handler: Any) -> Any:
        def wrapped(request: Request) -> Response:
            body = request.get_json(silent=True)
            self.requests.append(
                (request.method, request.path, body if body is not None else dict(request.args))
            )
            if request.headers.get("Authorization") != f"Bearer {self.token}":
                return _json(self.error_body(401), 401)
            if self.failures:
                return self.failures.pop(0)
            return handler(request)

        return wrapped

    def calls(self, path_pattern: str) -> list[Any]:
        return [body for _, path, body in self.requests if re.fullmatch(path_pattern, path)]


# --- HubSpot ------------------------------------------------------------------------------


@dataclass
class HubSpotFake(_Base):
    companies: dict[str, dict[str, Any]] = field(default_factory=dict)
    owners: list[dict[str, Any]] = field(default_factory=list)
    deals: list[dict[str, Any]] = field(default_factory=list)
    properties: dict[str, dict[str, Any]] = field(default_factory=dict)

    def install(self) -> HubSpotFake:
        s = self.server
        s.expect_request("/crm/v3/objects/companies/search", method="POST").respond_with_handler(
            self._serve(self._search_companies)
        )
        s.expect_request("/crm/v3/objects/deals/search", method="POST").respond_with_handler(
            self._serve(self._search_deals)
        )
        s.expect_request("/crm/v3/owners/", method="GET").respond_with_handler(
            self._serve(self._owners)
        )
        s.expect_request(
            re.compile(r"/crm/v3/properties/companies/\w+"), method="GET"
        ).respond_with_handler(self._serve(self._get_property))
        s.expect_request("/crm/v3/properties/companies", method="POST").respond_with_handler(
            self._serve(self._create_property)
        )
        s.expect_request(
            "/crm/v3/objects/companies/batch/update", method="POST"
        ).respond_with_handler(self._serve(self._batch_update))
        return self

    def error_body(self, status: int) -> Any:
        category, message = {
            401: ("INVALID_AUTHENTICATION", "Authentication credentials not found."),
            404: ("OBJECT_NOT_FOUND", "Not found."),
            429: ("RATE_LIMITS", "You have reached your secondly limit."),
        }.get(status, ("INTERNAL_ERROR", "Internal error."))
        return {
            "status": "error",
            "message": message,
            "correlationId": "a1b2c3d4-0000",
            "category": category,
        }

    def add_company(
        self, company_id: str, modified: dt.datetime, *, archived: bool = False, **props: Any
    ) -> None:
        self.companies[company_id] = {
            "id": company_id,
            "archived": archived,
            "modified": modified,
            "properties": {k: None if v is None else str(v) for k, v in props.items()},
        }

    def _company_json(self, company: dict[str, Any], wanted: list[str]) -> dict[str, Any]:
        props = {name: company["properties"].get(name) for name in wanted}
        props.update(
            hs_object_id=company["id"],
            hs_lastmodifieddate=iso(company["modified"]),
            createdate="2024-01-01T00:00:00.000Z",
        )
        out = {
            "id": company["id"],
            "properties": props,
            "createdAt": "2024-01-01T00:00:00.000Z",
            "updatedAt": iso(company["modified"]),
            "archived": company["archived"],
        }
        if company["archived"]:
            out["archivedAt"] = iso(company["modified"])
        return out

    def _search_companies(self, request: Request) -> Response:
        body = request.get_json()
        since = None
        for group in body.get("filterGroups") or []:
            for f in group["filters"]:
                if f["propertyName"] == "hs_lastmodifieddate" and f["operator"] == "GTE":
                    since = int(f["value"])
        rows = sorted(self.companies.values(), key=lambda c: (c["modified"], c["id"]))
        if since is not None:
            rows = [c for c in rows if millis(c["modified"]) >= since]
        after = int(body.get("after") or 0)
        limit = int(body.get("limit") or 10)
        page = rows[after : after + limit]
        out: dict[str, Any] = {
            "total": len(rows),
            "results": [self._company_json(c, body.get("properties") or []) for c in page],
        }
        if after + limit < len(rows):
            out["paging"] = {
                "next": {"after": str(after + limit), "link": "?after=" + str(after + limit)}
            }
        return _json(out)

    def _search_deals(self, request: Request) -> Response:
        body = request.get_json()
        filters = {f["propertyName"]: f for f in body["filterGroups"][0]["filters"]}
        company = filters["associations.company"]["value"]
        stages = filters["dealstage"]["values"]
        rows = [
            d
            for d in self.deals
            if d["company"] == company and d["properties"]["dealstage"] in stages
        ]
        rows.sort(key=lambda d: d["properties"]["closedate"], reverse=True)
        return _json(
            {
                "total": len(rows),
                "results": [
                    {
                        "id": d["id"],
                        "properties": d["properties"],
                        "createdAt": "2024-01-01T00:00:00.000Z",
                        "updatedAt": "2024-01-01T00:00:00.000Z",
                        "archived": False,
                    }
                    for d in rows[: int(body.get("limit") or 10)]
                ],
            }
        )

    def _owners(self, request: Request) -> Response:
        return _json(
            {
                "results": [
                    {
                        "id": o["id"],
                        "email": o["email"],
                        "type": "PERSON",
                        "firstName": "",
                        "lastName": "",
                        "userId": 1,
                        "createdAt": "2024-01-01T00:00:00.000Z",
                        "updatedAt": "2024-01-01T00:00:00.000Z",
                        "archived": False,
                    }
                    for o in self.owners
                ]
            }
        )

    def _property_json(self, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": body["name"],
            "label": body["label"],
            "type": body["type"],
            "fieldType": body["fieldType"],
            "groupName": body["groupName"],
            "description": body.get("description", ""),
            "options": [],
            "createdAt": "2026-01-01T00:00:00.000Z",
            "updatedAt": "2026-01-01T00:00:00.000Z",
        }

    def _get_property(self, request: Request) -> Response:
        name = request.path.rsplit("/", 1)[1]
        if name not in self.properties:
            return _json(self.error_body(404), 404)
        return _json(self.properties[name])

    def _create_property(self, request: Request) -> Response:
        body = request.get_json()
        self.properties[body["name"]] = self._property_json(body)
        return _json(self.properties[body["name"]], 201)

    def _batch_update(self, request: Request) -> Response:
        inputs = request.get_json()["inputs"]
        if len(inputs) > 100:
            return _json(
                {"status": "error", "message": "Batch too large", "category": "VALIDATION_ERROR"},
                400,
            )
        missing = [item["id"] for item in inputs if item["id"] not in self.companies]
        if missing:  # HubSpot refuses the whole batch when one of its objects is gone
            return _json(
                {
                    "status": "error",
                    "message": "Could not get some COMPANY objects, they may be deleted or not"
                    " exist. Check that ids are valid.",
                    "correlationId": "a1b2c3d4-0000",
                    "context": {"ids": missing},
                    "category": "OBJECT_NOT_FOUND",
                },
                404,
            )
        results = []
        for item in inputs:
            company = self.companies[item["id"]]
            company["properties"].update(item["properties"])
            results.append(
                {
                    "id": item["id"],
                    "properties": item["properties"],
                    "createdAt": "2024-01-01T00:00:00.000Z",
                    "updatedAt": iso(dt.datetime.now(dt.UTC)),
                    "archived": False,
                }
            )
        now = iso(dt.datetime.now(dt.UTC))
        return _json(
            {"status": "COMPLETE", "results": results, "startedAt": now, "completedAt": now}
        )


# --- Stripe -------------------------------------------------------------------------------


@dataclass
class StripeFake(_Base):
    customers: list[dict[str, Any]] = field(default_factory=list)
    subscriptions: list[dict[str, Any]] = field(default_factory=list)
    invoices: list[dict[str, Any]] = field(default_factory=list)
    charges: list[dict[str, Any]] = field(default_factory=list)

    def install(self) -> StripeFake:
        for name in ("customers", "subscriptions", "invoices", "charges"):
            self.server.expect_request(f"/v1/{name}", method="GET").respond_with_handler(
                self._serve(lambda request, n=name: self._list(request, n))
            )
        return self

    def error_body(self, status: int) -> Any:
        if status == 401:
            return {
                "error": {
                    "message": f"Invalid API Key provided: sk_test_****{self.token[-4:]}",
                    "type": "invalid_request_error",
                }
            }
        if status == 429:
            return {
                "error": {
                    "message": "Request rate limit exceeded.",
                    "type": "invalid_request_error",
                    "code": "rate_limit",
                }
            }
        return {"error": {"message": "An unknown error occurred", "type": "api_error"}}

    def add_customer(
        self,
        customer_id: str,
        *,
        email: str = "",
        metadata: dict | None = None,
        deleted: bool = False,
    ) -> None:
        if deleted:
            self.customers.append({"id": customer_id, "object": "customer", "deleted": True})
            return
        self.customers.append(
            {
                "id": customer_id,
                "object": "customer",
                "email": email or None,
                "metadata": metadata or {},
                "created": 1700000000,
                "livemode": False,
            }
        )

    def add_subscription(
        self,
        customer: str,
        *,
        amount: int,
        interval: str = "month",
        status: str = "active",
        start: dt.datetime,
        ended: dt.datetime | None = None,
        quantity: int = 1,
    ) -> None:
        self.subscriptions.append(
            {
                "id": f"sub_{len(self.subscriptions) + 1}",
                "object": "subscription",
                "customer": customer,
                "status": status,
                "start_date": int(start.timestamp()),
                "created": int(start.timestamp()),
                "ended_at": int(ended.timestamp()) if ended else None,
                "items": {
                    "object": "list",
                    "has_more": False,
                    "url": "/v1/subscription_items",
                    "data": [
                        {
                            "id": f"si_{len(self.subscriptions) + 1}",
                            "object": "subscription_item",
                            "quantity": quantity,
                            "price": {
                                "id": "price_1",
                                "object": "price",
                                "currency": "usd",
                                "unit_amount": amount,
                                "recurring": {"interval": interval, "interval_count": 1},
                            },
                        }
                    ],
                },
            }
        )

    def _list(self, request: Request, name: str) -> Response:
        args = request.args
        rows = list(getattr(self, name))
        if name != "customers":
            rows = [r for r in rows if r.get("customer") == args.get("customer")]
        if name == "subscriptions" and args.get("status") not in (None, "all"):
            rows = [r for r in rows if r["status"] == args["status"]]
        if name == "invoices" and args.get("status"):
            rows = [r for r in rows if r["status"] == args["status"]]
        if name == "charges" and args.get("created[gte]"):
            rows = [r for r in rows if r["created"] >= int(args["created[gte]"])]
        start = 0
        if args.get("starting_after"):
            start = next(i for i, r in enumerate(rows) if r["id"] == args["starting_after"]) + 1
        limit = int(args.get("limit") or 10)
        page = rows[start : start + limit]
        return _json(
            {
                "object": "list",
                "url": f"/v1/{name}",
                "has_more": start + limit < len(rows),
                "data": page,
            }
        )
