"""Contacts: the people at a customer (name, role, email, phone, champion and
decision-maker flags), added, edited and removed by whoever works the account. Every change
writes a line on the account's timeline in the same transaction."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from accounts.models import Account, Activity, Contact, User
from chs_site.errors import ValidationFailed

# The fields people edit, as the timeline names them.
CONTACT_FIELDS = {
    "name": "name",
    "title": "role",
    "email": "email",
    "phone": "phone",
    "is_champion": "champion",
    "is_decision_maker": "decision-maker",
}
# Digits with the separators people write (+41 44 668 18 00, (555) 010-7788, ext. 12).
PHONE_PATTERN = re.compile(r"^\+?[0-9 ()./-]+(?:\s*(?:x|ext\.?)\s*[0-9]+)?$", re.IGNORECASE)
PHONE_MIN_DIGITS = 5


def contact_errors(
    *, account: Account, data: dict[str, Any], contact: Contact | None = None
) -> list[dict[str, str]]:
    """What is wrong with ``data`` for a contact of ``account``: each field with a reason."""
    errors: list[dict[str, str]] = []
    name = str(data.get("name") or "").strip()
    if not name:
        errors.append({"field": "name", "reason": "a contact needs a name"})
    elif len(name) > Contact._meta.get_field("name").max_length:  # type: ignore[operator]
        errors.append({"field": "name", "reason": "is longer than 200 characters"})
    email = str(data.get("email") or "").strip()
    if email:
        try:
            validate_email(email)
        except ValidationError:
            errors.append({"field": "email", "reason": f"{email!r} is not an email address"})
        else:
            taken = Contact.objects.filter(account=account, email__iexact=email)
            if contact is not None:
                taken = taken.exclude(pk=contact.pk)
            clash = taken.values_list("name", flat=True).first()
            if clash is not None:
                errors.append(
                    {"field": "email", "reason": f"{clash} already has {email} on this account"}
                )
    phone = str(data.get("phone") or "").strip()
    if phone and (
        not PHONE_PATTERN.match(phone) or sum(ch.isdigit() for ch in phone) < PHONE_MIN_DIGITS
    ):
        errors.append(
            {
                "field": "phone",
                "reason": f"{phone!r} is not a phone number: use digits with spaces, "
                "+, -, ( ) or an extension (x12)",
            }
        )
    return errors


def _flags(contact: Contact) -> str:
    flags = [
        label
        for label, on in (
            ("champion", contact.is_champion),
            ("decision-maker", contact.is_decision_maker),
        )
        if on
    ]
    return f" ({', '.join(flags)})" if flags else ""


def _log(*, account: Account, user: User | None, summary: str, details: dict[str, Any]) -> None:
    Activity.objects.create(
        account=account,
        kind=Activity.Kind.CONTACT,
        actor=user,
        occurred_at=timezone.now(),
        summary=summary[:300],
        details=details,
    )


def _clean(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in CONTACT_FIELDS:
        value = data.get(field)
        out[field] = bool(value) if field.startswith("is_") else str(value or "").strip()
    return out


@transaction.atomic
def create_contact(*, user: User | None, account: Account, data: dict[str, Any]) -> Contact:
    """Add a contact to ``account`` (fetched by the caller through the user's scope)."""
    errors = contact_errors(account=account, data=data)
    if errors:
        raise ValidationFailed("The contact is invalid; see details.", errors=errors)
    contact = Contact.objects.create(account=account, **_clean(data))
    _log(
        account=account,
        user=user,
        summary=f"Contact added: {contact.name}{_flags(contact)}",
        details={"contact": contact.pk, "name": contact.name},
    )
    return contact


@transaction.atomic
def update_contact(*, user: User | None, contact: Contact, data: dict[str, Any]) -> Contact:
    """Edit a contact; a timeline line names the fields that changed (none: no line)."""
    account = contact.account
    errors = contact_errors(account=account, data=data, contact=contact)
    if errors:
        raise ValidationFailed("The contact is invalid; see details.", errors=errors)
    new = _clean(data)
    changed = [f for f in CONTACT_FIELDS if getattr(contact, f) != new[f]]
    if not changed:
        return contact
    for field in changed:
        setattr(contact, field, new[field])
    contact.save(update_fields=changed)
    labels = [CONTACT_FIELDS[f] for f in changed]
    _log(
        account=account,
        user=user,
        summary=f"Contact edited: {contact.name}{_flags(contact)} — {', '.join(labels)}",
        details={"contact": contact.pk, "changed": changed},
    )
    return contact


@transaction.atomic
def delete_contact(*, user: User | None, contact: Contact) -> None:
    account = contact.account
    name, pk = contact.name, contact.pk
    contact.delete()
    _log(
        account=account,
        user=user,
        summary=f"Contact removed: {name}",
        details={"contact": pk, "name": name},
    )
