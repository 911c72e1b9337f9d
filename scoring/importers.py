"""Scoring's CSV importers: metric values in long format (``account, metric, value,
observed_at``) and wide format (``account, observed_at`` and one column per metric), and
outcomes. They plug into the accounts import framework (``accounts.imports``) by kind,
registered when the scoring app loads, and write through the same services as the API."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

from accounts.imports.importer import CellErrors, Importer
from accounts.imports.reading import normalise_header
from accounts.imports.registry import FieldSpec, ImportKindSpec, register
from accounts.models import Account
from chs_site.parsing import (
    FUTURE_TOLERANCE,
    check_not_future,
    decimal_mark,
    parse_observed_at,
)
from scoring.contracts import METRIC_VALUE_LIMIT, MetricValueIn, check_metric_value
from scoring.models import MetricDefinition, Outcome
from scoring.services.ingest import metric_ids
from scoring.services.outcomes import record_outcome
from scoring.services.values import record_metric_values

METRICS_LONG = "metrics_long"
METRICS_WIDE = "metrics_wide"
OUTCOMES = "outcomes"

_ACCOUNT = FieldSpec(
    "account",
    "Account (external id)",
    True,
    ("external_id", "account_id", "account_external_id"),
)
_OBSERVED_AT = FieldSpec(
    "observed_at",
    "Observed at",
    True,
    ("date", "time", "timestamp", "observed", "day"),
    "ISO 8601 date or date-time; UTC when no zone.",
)
METRICS_LONG_FIELDS = (
    _ACCOUNT,
    FieldSpec("metric", "Metric key", True, ("metric_key", "key")),
    FieldSpec("value", "Value", True, ("val", "amount")),
    _OBSERVED_AT,
)
# Values every locale reads as ``float()`` does, so the fast path may skip the locale
# parser: digits, and a decimal point where the locale's decimal mark is the point. (Far
# below the parser's digit limit; anything else takes the careful way.)
_PLAIN_INTEGER = re.compile(r"[+-]?[0-9]{1,15}")
_PLAIN_DECIMAL = re.compile(r"[+-]?[0-9]{1,15}(?:\.[0-9]{1,15})?")
METRICS_WIDE_FIELDS = (_ACCOUNT, _OBSERVED_AT)
OUTCOMES_FIELDS = (
    FieldSpec("account", "Account (external id)", True, ("external_id", "account_id")),
    FieldSpec(
        "kind",
        "Outcome",
        True,
        ("outcome", "type"),
        "renewed, churned, expanded or contracted.",
    ),
    FieldSpec("occurred_at", "Date", True, ("date", "occurred_on", "on")),
    FieldSpec(
        "arr_change", "ARR change", False, ("arr_delta", "delta", "amount"), "Defaults to 0."
    ),
    FieldSpec("note", "Note", False, ("notes", "comment")),
)


class MetricsLongImporter(Importer):
    def prepare(self) -> None:
        super().prepare()
        self.metrics = metric_ids()
        self.latest_allowed = self.now + FUTURE_TOLERANCE
        self.value_in = MetricValueIn
        self.plain_number = (
            _PLAIN_DECIMAL if decimal_mark(self.number_locale) == "." else _PLAIN_INTEGER
        ).fullmatch

    def metric_value(
        self,
        cells: list[str],
        errors: CellErrors,
        *,
        column: str,
        raw: str,
        metric_id: int,
        account_id: int | None,
        observed_at: dt.datetime | None,
    ) -> Any:
        try:
            value = check_metric_value(float(self.number(raw)))
        except ValueError as exc:
            errors.append((column, str(exc)))
            return None
        if account_id is None or observed_at is None:
            return None
        return MetricValueIn(
            account_id=account_id, metric_id=metric_id, value=value, observed_at=observed_at
        )

    def observed_at(self, cells: list[str], errors: CellErrors) -> dt.datetime | None:
        try:
            when = parse_observed_at(self.cell(cells, "observed_at"))
            check_not_future(when, self.now)
        except ValueError as exc:
            errors.append((self.labels["observed_at"], str(exc)))
            return None
        return when

    def parse(self, cells: list[str]) -> tuple[Any, CellErrors]:
        # The common case, a good row, in a few dictionary lookups; anything unusual goes
        # the careful way below, which accepts exactly the same rows and explains the rest.
        try:
            account_id = self.accounts[cells[self.columns["account"]].strip()]
            metric_id = self.metrics[cells[self.columns["metric"]].strip()]
            text = cells[self.columns["value"]]
            if not self.plain_number(text):
                raise ValueError(text)
            value = float(text)
            when = dt.datetime.fromisoformat(cells[self.columns["observed_at"]].strip())
        except (KeyError, IndexError, ValueError):
            pass
        else:
            if when.tzinfo is None:
                when = when.replace(tzinfo=dt.UTC)
            # NaN and infinities fail the range test too.
            if -METRIC_VALUE_LIMIT <= value <= METRIC_VALUE_LIMIT and when <= self.latest_allowed:
                return [self.value_in(account_id, metric_id, value, when)], []
        return self.parse_carefully(cells)

    def parse_carefully(self, cells: list[str]) -> tuple[Any, CellErrors]:
        errors: CellErrors = []
        account_id = self.account_id(cells, errors)
        key = self.cell(cells, "metric")
        metric_id = self.metrics.get(key)
        if not key:
            errors.append((self.labels["metric"], "is empty"))
        elif metric_id is None:
            errors.append((self.labels["metric"], f"unknown metric {key[:64]!r}"))
        observed_at = self.observed_at(cells, errors)
        item = self.metric_value(
            cells,
            errors,
            column=self.labels["value"],
            raw=self.cell(cells, "value"),
            metric_id=metric_id or 0,
            account_id=account_id,
            observed_at=observed_at,
        )
        return ([item] if item and not errors else None), errors

    def write(self, items: list[Any]) -> dict[str, int]:
        flat = [v for row in items for v in row]
        record_metric_values(values=flat, source="csv import")
        return {"values": len(flat)}


class MetricsWideImporter(MetricsLongImporter):
    extra_columns = "metrics"  # mapping["metrics"]: column → metric key

    @classmethod
    def suggest_extra_columns(
        cls, header: list[str], used: set[str], remembered: dict[str, str]
    ) -> dict[str, str]:
        """Each column that is not a field: the metric it held last time, else the metric
        whose key its name is."""
        keys = set(MetricDefinition.objects.values_list("key", flat=True))
        metrics = {}
        for column in header:
            if column in used:
                continue
            if remembered.get(column) in keys:
                metrics[column] = remembered[column]
            elif normalise_header(column) in keys:
                metrics[column] = normalise_header(column)
            elif column.strip() in keys:
                metrics[column] = column.strip()
        return metrics

    @classmethod
    def check_extra_columns(cls, header: list[str], extra: dict[str, str]) -> list[dict[str, str]]:
        errors = []
        if not extra:
            errors.append({"field": "metrics", "reason": "map at least one column to a metric"})
        known = set(
            MetricDefinition.objects.filter(key__in=extra.values()).values_list("key", flat=True)
        )
        for column, key in extra.items():
            if column not in header:
                errors.append({"field": "metrics", "reason": f"the file has no column {column!r}"})
            elif key not in known:
                errors.append(
                    {"field": "metrics", "reason": f"unknown metric {key!r} for column {column!r}"}
                )
        return errors

    def prepare(self) -> None:
        super().prepare()
        self.metric_columns = [
            (self.header.index(column), column, self.metrics[key])
            for column, key in (self.mapping.get("metrics") or {}).items()
            if column in self.header and key in self.metrics
        ]

    def parse(self, cells: list[str]) -> tuple[Any, CellErrors]:
        errors: CellErrors = []
        account_id = self.account_id(cells, errors)
        observed_at = self.observed_at(cells, errors)
        values = []
        for index, column, metric_id in self.metric_columns:
            raw = cells[index].strip() if index < len(cells) else ""
            if not raw:
                continue  # a blank cell: no value for that metric in this row
            item = self.metric_value(
                cells,
                errors,
                column=column,
                raw=raw,
                metric_id=metric_id,
                account_id=account_id,
                observed_at=observed_at,
            )
            if item is not None:
                values.append(item)
        return (values if not errors else None), errors


class OutcomesImporter(Importer):
    def parse(self, cells: list[str]) -> tuple[Any, CellErrors]:
        errors: CellErrors = []
        account_id = self.account_id(cells, errors)
        kind = self.cell(cells, "kind").lower()
        if kind not in Outcome.Kind.values:
            errors.append(
                (
                    self.labels["kind"],
                    f"{kind[:30]!r} is not one of {', '.join(Outcome.Kind.values)}",
                )
            )
        raw_date = self.cell(cells, "occurred_at")
        occurred: dt.date | None = None
        try:
            occurred = dt.date.fromisoformat(raw_date[:10]) if raw_date else None
            if occurred is None:
                errors.append((self.labels["occurred_at"], "is empty"))
            elif occurred > self.now.date() + dt.timedelta(days=1):
                errors.append((self.labels["occurred_at"], "is in the future"))
        except ValueError:
            errors.append(
                (self.labels["occurred_at"], f"{raw_date[:30]!r} is not a date (YYYY-MM-DD)")
            )
        change = Decimal(0)
        raw_change = self.cell(cells, "arr_change")
        if raw_change:
            try:
                change = self.number(raw_change, amount=True)
                if abs(change) >= Decimal("1e12"):
                    raise ValueError(f"{raw_change!r} is too large")
            except ValueError as exc:
                errors.append((self.labels["arr_change"], str(exc)))
        if errors:
            return None, errors
        return (account_id, kind, occurred, change, self.cell(cells, "note")), errors

    def write(self, items: list[Any]) -> dict[str, int]:
        accounts = Account.objects.in_bulk([i[0] for i in items])
        for account_id, kind, occurred, change, note in items:
            record_outcome(
                user=self.user,
                account=accounts[account_id],
                kind=kind,
                occurred_at=occurred,
                arr_change=change,
                note=note,
            )
        return {"outcomes": len(items)}


def register_importers() -> None:
    register(
        ImportKindSpec(
            METRICS_LONG,
            "Metric values (one row per value)",
            METRICS_LONG_FIELDS,
            MetricsLongImporter,
        )
    )
    register(
        ImportKindSpec(
            METRICS_WIDE,
            "Metric values (one column per metric)",
            METRICS_WIDE_FIELDS,
            MetricsWideImporter,
        )
    )
    register(ImportKindSpec(OUTCOMES, "Outcomes", OUTCOMES_FIELDS, OutcomesImporter))
