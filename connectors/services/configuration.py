"""Configuring connectors (admins only): create, edit, delete. Every change is audited;
the credential appears in the log only as "changed" (masked), never in clear."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.services.audit import Action, ObjectType, diff, record_audit, snapshot
from chs_site.errors import Conflict, PermissionDenied, ValidationFailed
from chs_site.secrets import encrypt, last4
from connectors.mapping import effective_mapping
from connectors.models import Connector
from connectors.registry import connector_type
from scoring.models import MetricDefinition
from scoring.services.values import create_metric_definition

# What the audit log compares; the credential is logged under a secret-marked name.
AUDITED_FIELDS = ("name", "kind", "enabled", "interval_minutes", "write_back", "mapping")
MIN_INTERVAL_MINUTES = 5
MAX_INTERVAL_MINUTES = 7 * 24 * 60


def check_connector_admin(user: User) -> None:
    if not user.is_admin:
        raise PermissionDenied("Only admins may configure connectors.")


def _check(*, kind: str, name: str, interval_minutes: int, write_back: bool) -> None:
    errors = []
    if not name.strip():
        errors.append({"field": "name", "reason": "is required"})
    if not MIN_INTERVAL_MINUTES <= interval_minutes <= MAX_INTERVAL_MINUTES:
        errors.append(
            {
                "field": "interval_minutes",
                "reason": f"must be {MIN_INTERVAL_MINUTES} to {MAX_INTERVAL_MINUTES} minutes",
            }
        )
    if write_back and kind != "hubspot":
        errors.append({"field": "write_back", "reason": "only HubSpot connectors write back"})
    if errors:
        raise ValidationFailed("The connector was not saved.", errors=errors)


def _ensure_metrics(connector: Connector) -> None:
    """Define the metrics the connector's mapping writes, if they are not yet."""
    spec = connector_type(connector.kind)
    wanted = spec.metric_definitions(effective_mapping(spec, connector.mapping))
    existing = set(
        MetricDefinition.objects.filter(key__in=list(wanted)).values_list("key", flat=True)
    )
    for key, (name, unit, direction) in wanted.items():
        if key not in existing:
            create_metric_definition(key=key, name=name, unit=unit, direction=direction)


@transaction.atomic
def create_connector(
    *,
    actor: User,
    kind: str,
    name: str,
    credential: str,
    mapping: dict[str, Any],
    interval_minutes: int,
    enabled: bool = False,
    write_back: bool = False,
) -> Connector:
    check_connector_admin(actor)
    connector_type(kind)  # KeyError for an unknown kind is a programming error
    _check(kind=kind, name=name, interval_minutes=interval_minutes, write_back=write_back)
    if not credential:
        raise ValidationFailed(
            "The connector was not saved.",
            errors=[{"field": "credential", "reason": "is required"}],
        )
    if Connector.objects.filter(name=name).exists():
        raise Conflict(
            "A connector with this name exists.",
            errors=[{"field": "name", "reason": f"{name!r} is taken"}],
        )
    connector = Connector.objects.create(
        kind=kind,
        name=name,
        credential_encrypted=encrypt(credential),
        credential_last4=last4(credential),
        mapping=mapping,
        interval_minutes=interval_minutes,
        enabled=enabled,
        write_back=write_back,
        next_run_at=timezone.now() if enabled else None,
    )
    _ensure_metrics(connector)
    changes = {f: [None, v] for f, v in snapshot(connector, AUDITED_FIELDS).items()}
    changes["secret"] = [None, "set"]
    record_audit(
        action=Action.CREATED, object_type=ObjectType.CONNECTOR, obj=connector, changes=changes
    )
    return connector


@transaction.atomic
def update_connector(
    *,
    actor: User,
    connector: Connector,
    name: str,
    credential: str,
    mapping: dict[str, Any],
    interval_minutes: int,
    enabled: bool,
    write_back: bool,
) -> Connector:
    """Apply an edit; an empty ``credential`` keeps the stored one."""
    check_connector_admin(actor)
    _check(kind=connector.kind, name=name, interval_minutes=interval_minutes, write_back=write_back)
    if Connector.objects.filter(name=name).exclude(pk=connector.pk).exists():
        raise Conflict(
            "A connector with this name exists.",
            errors=[{"field": "name", "reason": f"{name!r} is taken"}],
        )
    if enabled and not (credential or connector.credential_encrypted):
        raise ValidationFailed(
            "The connector was not saved.",
            errors=[{"field": "credential", "reason": "enter the credential before enabling"}],
        )
    before = snapshot(connector, AUDITED_FIELDS)
    was_enabled = connector.enabled
    connector.name = name
    connector.mapping = mapping
    connector.interval_minutes = interval_minutes
    connector.enabled = enabled
    connector.write_back = write_back
    fields = ["name", "mapping", "interval_minutes", "enabled", "write_back", "updated_at"]
    changes = diff(before, snapshot(connector, AUDITED_FIELDS))
    if credential:
        connector.credential_encrypted = encrypt(credential)
        connector.credential_last4 = last4(credential)
        # A new credential may cure a failing connector: the next run will tell.
        connector.health = Connector.Health.NEW
        connector.last_error = ""
        fields += ["credential_encrypted", "credential_last4", "health", "last_error"]
        changes["secret"] = ["set", "set"]
    if enabled and not was_enabled:
        connector.next_run_at = timezone.now()
        fields.append("next_run_at")
    connector.save(update_fields=fields)
    _ensure_metrics(connector)
    if changes:
        record_audit(
            action=_action(was_enabled, enabled),
            object_type=ObjectType.CONNECTOR,
            obj=connector,
            changes=changes,
        )
    return connector


def _action(was_enabled: bool, enabled: bool) -> str:
    if enabled != was_enabled:
        return Action.ENABLED if enabled else Action.DISABLED
    return Action.UPDATED


@transaction.atomic
def delete_connector(*, actor: User, connector: Connector) -> None:
    """Delete a connector with its runs and links; accounts and metric values it wrote
    stay (they are the customer's data now)."""
    check_connector_admin(actor)
    changes = {f: [v, None] for f, v in snapshot(connector, AUDITED_FIELDS).items()}
    record_audit(
        action=Action.DELETED, object_type=ObjectType.CONNECTOR, obj=connector, changes=changes
    )
    connector.delete()
