"""Metric values coming in (API and CSV): validate everything, then write everything.

Validation is hand-written rather than a serializer per item: a request of 10 000 values
is checked with two queries (accounts in the user's scope, metric keys) and a tight loop,
so the API can take tens of thousands of values per second. Writing goes through
``scoring.services.values.record_metric_values`` (upsert, dirty marking, recompute on commit).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.selectors.access import visible_accounts
from chs_site.errors import Conflict, ValidationFailed
from chs_site.parsing import check_not_future, parse_number, parse_observed_at
from scoring.contracts import MetricValueIn, check_metric_value
from scoring.models import MetricDefinition
from scoring.services.values import record_metric_values

MAX_ITEMS = 10_000
WRITE_CHUNK = 5_000
LOOKUP_CHUNK = 5_000  # keeps IN (...) lists under SQLite's variable limit


def chunked(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def account_ids_for(user: User, external_ids: Iterable[str]) -> dict[str, int]:
    """external_id → pk for the accounts among ``external_ids`` that ``user`` may see."""
    # NUL cannot be in a stored id (PostgreSQL refuses it in a query): such items are unknown.
    wanted = sorted({e for e in external_ids if "\x00" not in e})
    found: dict[str, int] = {}
    scope = visible_accounts(user).order_by()
    for part in chunked(wanted, LOOKUP_CHUNK):
        found.update(scope.filter(external_id__in=part).values_list("external_id", "pk"))
    return found


def metric_ids() -> dict[str, int]:
    return dict(MetricDefinition.objects.values_list("key", "pk"))


def validate_metric_items(*, user: User, items: object, now: dt.datetime | None = None) -> list:
    """Check a metrics request body's ``values`` list as a whole. Returns the values to
    write (deduplicated on account, metric and time: the last one wins) or raises
    ValidationFailed listing each bad item's index, field and reason."""
    if not isinstance(items, list):
        raise ValidationFailed(
            "The body must be an object with a 'values' list.",
            errors=[
                {
                    "field": "values",
                    "reason": "must be a list of {account, metric, value, observed_at}",
                }
            ],
        )
    if len(items) > MAX_ITEMS:
        raise ValidationFailed(
            f"Too many items: {len(items)}; send at most {MAX_ITEMS} per request.",
            errors=[
                {"field": "values", "reason": f"has {len(items)} items; the limit is {MAX_ITEMS}"}
            ],
        )
    if not items:
        raise ValidationFailed(
            "Nothing to ingest: 'values' is empty.",
            errors=[{"field": "values", "reason": "must contain at least one item"}],
        )
    now = now or timezone.now()
    accounts = account_ids_for(
        user,
        (i["account"] for i in items if isinstance(i, dict) and isinstance(i.get("account"), str)),
    )
    metrics = metric_ids()
    errors: list[dict[str, Any]] = []
    unknown = 0  # errors that name an account or metric that does not exist (for you)
    rows: dict[tuple[int, int, dt.datetime], Any] = {}
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            errors.append({"index": index, "field": "item", "reason": "must be an object"})
            continue
        ok = True
        account_key = item.get("account")
        account_id = None
        if account_key is None or account_key == "":
            errors.append({"index": index, "field": "account", "reason": "is missing"})
            ok = False
        elif not isinstance(account_key, str):
            errors.append(
                {
                    "index": index,
                    "field": "account",
                    "reason": "must be the account's external_id (a string)",
                }
            )
            ok = False
        else:
            account_id = accounts.get(account_key)
            if account_id is None:
                errors.append(
                    {
                        "index": index,
                        "field": "account",
                        "reason": f"unknown account {account_key[:100]!r} (or outside your scope)",
                    }
                )
                unknown += 1
                ok = False
        metric_key = item.get("metric")
        metric_id = None
        if metric_key is None or metric_key == "":
            errors.append({"index": index, "field": "metric", "reason": "is missing"})
            ok = False
        else:
            metric_id = metrics.get(metric_key) if isinstance(metric_key, str) else None
            if metric_id is None:
                errors.append(
                    {
                        "index": index,
                        "field": "metric",
                        "reason": f"unknown metric {str(metric_key)[:64]!r}; define it at /api/v1/metric-definitions/",
                    }
                )
                unknown += isinstance(metric_key, str)
                ok = False
        try:
            value = check_metric_value(parse_number(item.get("value")))
        except ValueError as exc:
            errors.append({"index": index, "field": "value", "reason": str(exc)})
            ok = False
        try:
            observed_at = parse_observed_at(item.get("observed_at"))
            check_not_future(observed_at, now)
        except ValueError as exc:
            errors.append({"index": index, "field": "observed_at", "reason": str(exc)})
            ok = False
        if ok and not errors and account_id is not None and metric_id is not None:
            key = (account_id, metric_id, observed_at)
            rows[key] = MetricValueIn(
                account_id=account_id, metric_id=metric_id, value=value, observed_at=observed_at
            )
    if errors:
        bad = len({e["index"] for e in errors})
        # Well-formed items that only name unknown accounts or metrics: a conflict (409).
        error = Conflict if unknown == len(errors) else ValidationFailed
        raise error(
            f"{bad} of {len(items)} item{'s' if len(items) != 1 else ''} {'is' if bad == 1 else 'are'} invalid; nothing was stored.",
            errors=errors,
        )
    return list(rows.values())


@transaction.atomic
def ingest_metric_values(*, user: User, items: object, source: str = "api") -> int:
    """Validate ``items`` as a whole and store them in one transaction; returns how many
    items were accepted. Nothing is stored when any item is bad."""
    values = validate_metric_items(user=user, items=items)
    for part in chunked(values, WRITE_CHUNK):
        record_metric_values(values=part, source=source)
    return len(items)  # type: ignore[arg-type]
