"""The base class of an importer: one kind of CSV file turned into writes.

``prepare`` loads lookups once; ``parse`` turns a row into an item or cell errors (the
same rows are parsed in the validation pass and again in the write pass); ``write``
stores a chunk of items inside the caller's transaction and returns counts. Numbers are
read in the job's locale (``number``), never guessed per cell. An importer
that maps columns beyond its fields (wide metric files: one column per metric) names the
mapping key in ``extra_columns`` and implements the two ``*_extra_columns`` hooks."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import Account, User
from accounts.selectors.access import visible_accounts
from chs_site.parsing import parse_decimal

CellErrors = list[tuple[str, str]]  # (column, reason)


class Importer:
    extra_columns: str | None = None

    def __init__(
        self,
        *,
        kind: str,
        user: User | None,
        header: list[str],
        mapping: dict[str, Any],
        number_locale: str,
    ) -> None:
        self.kind = kind
        self.number_locale = number_locale
        self.user = user
        self.header = header
        self.mapping = mapping
        fields = mapping.get("fields") or {}
        self.columns = {name: header.index(col) for name, col in fields.items() if col in header}
        self.labels: dict[str, str] = dict(fields)
        self.now = timezone.now()
        self.line = 0  # the line being parsed (for messages that point back at it)

    @classmethod
    def suggest_extra_columns(
        cls, header: list[str], used: set[str], remembered: dict[str, str]
    ) -> dict[str, str]:
        """column → key for the columns beyond the fields (``remembered``: last time's)."""
        return {}

    @classmethod
    def check_extra_columns(cls, header: list[str], extra: dict[str, str]) -> list[dict[str, str]]:
        """Problems with the extra columns' mapping, as {"field", "reason"}."""
        return []

    def scope(self) -> QuerySet[Account]:
        return Account.objects.all() if self.user is None else visible_accounts(self.user)

    def cell(self, cells: list[str], name: str) -> str:
        index = self.columns.get(name)
        if index is None or index >= len(cells):
            return ""
        return cells[index].strip()

    def number(self, raw: str, *, amount: bool = False) -> Decimal:
        """A cell's number read in the job's locale; ValueError says why it is refused.
        ``amount``: a currency sign beside it is allowed (amounts carry no currency)."""
        return parse_decimal(raw, locale=self.number_locale, amount=amount)

    def prepare(self) -> None:
        self.accounts: dict[str, int] = dict(
            self.scope().order_by().values_list("external_id", "pk")
        )

    def account_id(self, cells: list[str], errors: CellErrors, name: str = "account") -> int | None:
        value = self.cell(cells, name)
        if not value:
            errors.append((self.labels[name], "is empty"))
            return None
        found = self.accounts.get(value)
        if found is None:
            errors.append(
                (self.labels[name], f"unknown account {value[:100]!r} (or outside your scope)")
            )
        return found

    def parse(self, cells: list[str]) -> tuple[Any, CellErrors]:
        raise NotImplementedError

    def write(self, items: list[Any]) -> dict[str, int]:
        raise NotImplementedError
