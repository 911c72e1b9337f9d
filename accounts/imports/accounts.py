"""The accounts importer: accounts created or updated by ``external_id``, owner by
username (CSMs and managers only within their scope)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from accounts.imports.importer import CellErrors, Importer
from accounts.imports.registry import FieldSpec, ImportKindSpec, register
from accounts.models import (
    Account,
    LifecycleStage,
    User,
    is_valid_external_id,
    owner_sort_name,
    validate_external_id,
)
from accounts.selectors.access import visible_users

ACCOUNTS = "accounts"

FIELDS = (
    FieldSpec(
        "external_id",
        "External id",
        True,
        ("id", "account", "account_id", "crm_id"),
        "The account's id in your CRM; existing accounts are updated.",
    ),
    FieldSpec(
        "name",
        "Name",
        False,
        ("account_name", "company", "company_name"),
        "Required for new accounts.",
    ),
    FieldSpec("domain", "Domain", False, ("website", "url")),
    FieldSpec("segment", "Segment", False, ("tier",)),
    FieldSpec(
        "owner",
        "Owner (username)",
        False,
        ("csm", "owner_username", "username"),
        "A user's username.",
    ),
    FieldSpec("arr", "ARR", False, ("annual_recurring_revenue", "revenue")),
    FieldSpec("renewal_date", "Renewal date", False, ("renewal", "renews_on"), "YYYY-MM-DD."),
    FieldSpec(
        "lifecycle_stage",
        "Lifecycle stage",
        False,
        ("stage", "lifecycle"),
        ", ".join(LifecycleStage.values),
    ),
)


class AccountsImporter(Importer):
    def prepare(self) -> None:
        # external_id → (pk, visible to this user?) for every account: an id that exists
        # outside the user's scope cannot be created again (nor updated by them).
        visible = set(self.scope().order_by().values_list("pk", flat=True)) if self.user else None
        self.existing: dict[str, tuple[int, bool]] = {
            ext: (pk, visible is None or pk in visible)
            for ext, pk in Account.objects.order_by().values_list("external_id", "pk")
        }
        users = (
            User.objects.filter(is_active=True) if self.user is None else visible_users(self.user)
        )
        people = list(users.only("pk", "username", "first_name", "last_name"))
        self.owners: dict[str, int] = {u.username: u.pk for u in people}
        self.owner_sort_names: dict[int, str] = {u.pk: owner_sort_name(u) for u in people}
        self.seen: dict[str, int] = {}
        self.owner_required = self.user is not None and not self.user.is_admin
        self.update_fields = [
            f
            for f in (
                "name",
                "domain",
                "segment",
                "owner",
                "arr",
                "renewal_date",
                "lifecycle_stage",
            )
            if f in self.columns
        ]

    def parse(self, cells: list[str]) -> tuple[Any, CellErrors]:
        errors: CellErrors = []
        ext = self.cell(cells, "external_id")
        if not ext:
            errors.append((self.labels["external_id"], "is empty"))
        elif not is_valid_external_id(ext):
            errors.append((self.labels["external_id"], f"{ext!r} {validate_external_id.message}"))
        elif ext in self.seen:
            errors.append(
                (
                    self.labels["external_id"],
                    f"{ext!r} appears twice in the file (also line {self.seen[ext]})",
                )
            )
        found = self.existing.get(ext)
        if found is not None and not found[1]:
            errors.append(
                (self.labels["external_id"], f"{ext!r} cannot be used; choose another id")
            )
        values: dict[str, Any] = {"external_id": ext}
        name = self.cell(cells, "name")
        if "name" in self.columns or found is None:
            if not name:
                errors.append(
                    (self.labels.get("name") or "name", "is empty (new accounts need a name)")
                )
            values["name"] = name[:200]
        for field, limit in (("domain", 200), ("segment", 50)):
            if field in self.columns:
                text = self.cell(cells, field)
                if len(text) > limit:
                    errors.append((self.labels[field], f"is longer than {limit} characters"))
                values[field] = text
        if "owner" in self.columns:
            username = self.cell(cells, "owner")
            if not username:
                if self.owner_required:
                    errors.append((self.labels["owner"], "is empty; name an owner in your team"))
                values["owner_id"] = None
                values["owner_sort_name"] = ""
            elif username not in self.owners:
                errors.append(
                    (
                        self.labels["owner"],
                        f"{username[:60]!r} is not a user you may assign accounts to",
                    )
                )
            else:
                values["owner_id"] = self.owners[username]
                values["owner_sort_name"] = self.owner_sort_names[values["owner_id"]]
        elif found is None and self.owner_required:
            errors.append(("owner", "new accounts need an owner in your team; map an owner column"))
        if "arr" in self.columns:
            raw = self.cell(cells, "arr")
            try:
                arr = self.number(raw, amount=True) if raw else Decimal(0)
                if arr < 0 or arr >= Decimal("1e12"):
                    raise ValueError(f"{raw!r} must be between 0 and 10^12")
                values["arr"] = arr.quantize(Decimal("0.01"))
            except ValueError as exc:
                errors.append((self.labels["arr"], str(exc)))
        if "renewal_date" in self.columns:
            raw = self.cell(cells, "renewal_date")
            try:
                values["renewal_date"] = dt.date.fromisoformat(raw) if raw else None
            except ValueError:
                errors.append(
                    (self.labels["renewal_date"], f"{raw[:30]!r} is not a date (YYYY-MM-DD)")
                )
        if "lifecycle_stage" in self.columns:
            raw = self.cell(cells, "lifecycle_stage").lower()
            if raw and raw not in LifecycleStage.values:
                errors.append(
                    (
                        self.labels["lifecycle_stage"],
                        f"{raw[:30]!r} is not one of {', '.join(LifecycleStage.values)}",
                    )
                )
            values["lifecycle_stage"] = raw or LifecycleStage.ADOPTION
        if ext and ext not in self.seen:
            self.seen[ext] = self.line
        if errors:
            return None, errors
        return values, errors

    def write(self, items: list[Any]) -> dict[str, int]:
        created = sum(1 for i in items if i["external_id"] not in self.existing)
        update_fields = list(self.update_fields)
        if "owner" in update_fields:
            update_fields.append("owner_sort_name")  # set by parse() with the owner
        Account.objects.bulk_create(
            [Account(**item) for item in items],
            update_conflicts=bool(update_fields),
            ignore_conflicts=not update_fields,
            unique_fields=["external_id"] if update_fields else None,
            update_fields=[*update_fields, "updated_at"] if update_fields else None,
            batch_size=2000,
        )
        return {"created": created, "updated": len(items) - created}


def register_importer() -> None:
    register(ImportKindSpec(ACCOUNTS, "Accounts", FIELDS, AccountsImporter))
