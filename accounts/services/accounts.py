"""Customer accounts: creating and editing them, and who may own them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import Account, Activity, User, owner_sort_name
from accounts.selectors.access import (
    assignable_owner,
    can_manage_account,
    can_reassign_work,
    visible_accounts,
    visible_users,
)
from accounts.services.audit import Action, ObjectType, record_audit
from chs_site.errors import Conflict, PermissionDenied

ACCOUNT_FIELDS = ("name", "domain", "segment", "arr", "renewal_date", "lifecycle_stage")


def _check_owner(user: User, owner: User | None, *, account: Account | None) -> None:
    """Who may own an account ``user`` creates or edits: a CSM only themselves, a manager
    someone in their team, an admin anyone (or nobody)."""
    if owner is None:
        if not user.is_admin:
            raise PermissionDenied(
                "Only admins may leave an account without an owner; name an owner in your scope."
            )
        return
    if not visible_users(user).filter(pk=owner.pk).exists():
        assignable_owner(user, owner.username)  # raises the one "cannot be used" conflict
    if (
        account is not None
        and account.owner_id != owner.pk
        and not can_manage_account(user, account)
    ):
        raise PermissionDenied("Only the team's manager or an admin may reassign an account.")


@transaction.atomic
def create_account(*, user: User, data: dict[str, Any]) -> Account:
    """Create an account from validated API data (``owner`` is a User or None)."""
    external_id = data["external_id"]
    if Account.objects.filter(external_id=external_id).exists():
        # Inside the caller's scope the clash is theirs to resolve; outside it, it says only
        # that the id cannot be used (not whose it is, nor that it exists).
        if visible_accounts(user).filter(external_id=external_id).exists():
            reason = f"{external_id!r} is already taken; PATCH it instead"
            message = "An account with this external_id already exists."
        else:
            reason = f"{external_id!r} cannot be used; choose another id"
            message = "This external_id cannot be used."
        raise Conflict(message, errors=[{"field": "external_id", "reason": reason}])
    owner = data.get("owner", user if not user.is_admin else None)
    _check_owner(user, owner, account=None)
    account = Account.objects.create(
        external_id=external_id,
        owner=owner,
        owner_sort_name=owner_sort_name(owner),
        **{k: data[k] for k in ACCOUNT_FIELDS if k in data},
    )
    Activity.objects.create(
        account=account,
        kind=Activity.Kind.ACCOUNT,
        actor=user,
        occurred_at=timezone.now(),
        summary=f"Account created by {user.display_name}",
    )
    return account


@transaction.atomic
def update_account(*, user: User, account: Account, data: dict[str, Any]) -> Account:
    """Apply validated changes; an owner change writes its own timeline row."""
    now = timezone.now()
    changed: list[str] = []
    if "owner" in data and data["owner"] != account.owner:
        new_owner: User | None = data["owner"]
        _check_owner(user, new_owner, account=account)
        old_owner = account.owner
        account.owner = new_owner
        account.owner_sort_name = owner_sort_name(new_owner)
        changed += ["owner", "owner_sort_name"]
        Activity.objects.create(
            account=account,
            kind=Activity.Kind.OWNER_CHANGED,
            actor=user,
            occurred_at=now,
            summary=(
                f"Owner changed from {old_owner.display_name if old_owner else 'nobody'} "
                f"to {new_owner.display_name if new_owner else 'nobody'}"
            ),
        )
        record_audit(
            action=Action.OWNER_CHANGED,
            object_type=ObjectType.ACCOUNT,
            object_id=account.external_id,
            label=account.name,
            actor=user,
            changes={"owner": [old_owner, new_owner]},
        )
    for field in ACCOUNT_FIELDS:
        if field in data and getattr(account, field) != data[field]:
            setattr(account, field, data[field])
            changed.append(field)
    if changed:
        account.save(update_fields=[*changed, "updated_at"])
        fields = [f for f in changed if f not in ("owner", "owner_sort_name")]
        if fields:
            Activity.objects.create(
                account=account,
                kind=Activity.Kind.ACCOUNT,
                actor=user,
                occurred_at=now,
                summary=f"{', '.join(fields)} updated by {user.display_name}"[:300],
            )
    return account


@transaction.atomic
def sync_account(
    *, account: Account | None, external_id: str, data: dict[str, Any], source: str
) -> tuple[Account, list[str]]:
    """Create (``account`` None) or update an account from a connected system (``source``,
    e.g. "HubSpot"): no user acts, so no role check; the timeline says where the change
    came from. ``data`` holds cleaned ``ACCOUNT_FIELDS`` and optionally ``owner`` (a User).
    Returns the account and the fields that changed (["created"] for a new one)."""
    now = timezone.now()
    if account is None:
        owner: User | None = data.get("owner")
        account = Account.objects.create(
            external_id=external_id,
            owner=owner,
            owner_sort_name=owner_sort_name(owner),
            **{k: data[k] for k in ACCOUNT_FIELDS if k in data},
        )
        Activity.objects.create(
            account=account,
            kind=Activity.Kind.ACCOUNT,
            occurred_at=now,
            summary=f"Account created from {source}"[:300],
        )
        return account, ["created"]
    changed = [f for f in ACCOUNT_FIELDS if f in data and getattr(account, f) != data[f]]
    for field in changed:
        setattr(account, field, data[field])
    if "owner" in data and data["owner"] != account.owner:
        old_owner, new_owner = account.owner, data["owner"]
        account.owner = new_owner
        account.owner_sort_name = owner_sort_name(new_owner)
        changed += ["owner", "owner_sort_name"]
        Activity.objects.create(
            account=account,
            kind=Activity.Kind.OWNER_CHANGED,
            occurred_at=now,
            summary=(
                f"Owner changed from {old_owner.display_name if old_owner else 'nobody'} "
                f"to {new_owner.display_name if new_owner else 'nobody'} in {source}"
            )[:300],
        )
    if changed:
        account.save(update_fields=[*changed, "updated_at"])
        fields = [f for f in changed if f not in ("owner", "owner_sort_name")]
        if fields:
            Activity.objects.create(
                account=account,
                kind=Activity.Kind.ACCOUNT,
                occurred_at=now,
                summary=f"{', '.join(fields)} updated from {source}"[:300],
            )
    return account, changed


@dataclass(frozen=True)
class OwnerChanges:
    """What a bulk owner change did (or, from ``plan_owner_change``, would do)."""

    change: list[Account]
    already_owned: list[Account]  # skipped: the new owner has them already


def plan_owner_change(*, accounts: list[Account], owner: User) -> OwnerChanges:
    return OwnerChanges(
        change=[a for a in accounts if a.owner_id != owner.pk],
        already_owned=[a for a in accounts if a.owner_id == owner.pk],
    )


@transaction.atomic
def change_owners(*, user: User, accounts: list[Account], owner: User) -> OwnerChanges:
    """Hand ``accounts`` (fetched through ``user``'s scope) to ``owner``: managers within
    their team, admins anywhere. One transaction; each account gets its timeline line and
    audit entry (``update_account``), and a refusal on any of them changes none."""
    if not can_reassign_work(user):
        raise PermissionDenied("Only the team's manager or an admin may reassign accounts.")
    plan = plan_owner_change(accounts=accounts, owner=owner)
    for account in plan.change:
        update_account(user=user, account=account, data={"owner": owner})
    return plan
