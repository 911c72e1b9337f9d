"""The audit log: every change to configuration and access, written as an ``AuditEntry``
row by the service that makes the change, inside its transaction.

Where a change comes from (a page, the API, a command, a task) is an ``Origin`` held in a
context variable: ``AuditOriginMiddleware`` sets it for each request, commands and Celery
tasks set theirs with ``audit_origin``. ``record_audit`` reads it for the actor (the signed-in
user and the API key of the request, unless the service names the actor), the client's
address and user agent. Secret fields (passwords, keys, webhook URLs) are masked here, so
no caller can write one into the log."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import ApiToken, AuditEntry, User

Source = AuditEntry.Source
Action = AuditEntry.Action
ObjectType = AuditEntry.ObjectType

MASK = "•••"
EMPTY = "(empty)"
# A field whose name contains one of these holds a secret: the log says it changed, never
# what it was or became (a Slack webhook URL carries its token in the path).
SECRET_MARKERS = ("password", "secret", "token", "webhook", "key_hash", "api_key")
USER_AGENT_MAX = 300


@dataclass(frozen=True)
class Origin:
    source: str
    label: str = ""  # the command's or task's name
    request: HttpRequest | None = None


_origin: ContextVar[Origin | None] = ContextVar("chs_audit_origin", default=None)


@contextmanager
def audit_origin(
    source: str, label: str = "", *, request: HttpRequest | None = None
) -> Iterator[None]:
    """Entries recorded inside the block come from ``source`` (and ``request``)."""
    token = _origin.set(Origin(source=source, label=label, request=request))
    try:
        yield
    finally:
        _origin.reset(token)


def set_origin(origin: Origin | None) -> object:
    """For hooks without a ``with`` block (Celery's task signals); undo with ``reset_origin``."""
    return _origin.set(origin)


def reset_origin(token: Any) -> None:
    _origin.reset(token)


def is_secret(field: str) -> bool:
    name = field.lower()
    return any(marker in name for marker in SECRET_MARKERS)


def plain(value: Any) -> Any:
    """A value as the log stores it: JSON-native, model instances by their label."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else str(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, models.Model):
        return str(value)
    if isinstance(value, list | tuple | set | frozenset | models.QuerySet):
        items = [plain(v) for v in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    return str(value)


def _mask(value: Any) -> str:
    return EMPTY if value in (None, "", [], {}) else MASK


def masked(changes: Mapping[str, Any]) -> dict[str, list[Any]]:
    """``{field: [old, new]}`` with every secret field's values replaced by a mask."""
    out: dict[str, list[Any]] = {}
    for field, pair in changes.items():
        old, new = pair
        if is_secret(field):
            out[field] = [_mask(old), _mask(new)]
        else:
            out[field] = [plain(old), plain(new)]
    return out


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, list[Any]]:
    """The fields whose value differs between two snapshots, as ``{field: [old, new]}``."""
    changes: dict[str, list[Any]] = {}
    for field in dict.fromkeys([*old, *new]):
        before, after = plain(old.get(field)), plain(new.get(field))
        if before != after:
            changes[field] = [before, after]
    return changes


def snapshot(obj: models.Model, fields: tuple[str, ...] | list[str]) -> dict[str, Any]:
    return {f: plain(getattr(obj, f)) for f in fields}


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: ``REMOTE_ADDR``, or, when ``CLIENT_IP_HEADER`` names the header
    a trusted proxy sets (``X-Forwarded-For``, ``X-Real-IP``), the address that proxy saw:
    the last one in the header, since anything before it came from the client and may be
    forged. A value that is not an IP address is not recorded."""
    candidates: list[str] = []
    header = getattr(settings, "CLIENT_IP_HEADER", "")
    if header:
        raw = request.META.get("HTTP_" + header.upper().replace("-", "_"), "")
        parts = [p.strip() for p in str(raw).split(",") if p.strip()]
        if parts:
            candidates.append(parts[-1])
    candidates.append(str(request.META.get("REMOTE_ADDR", "")))
    for candidate in candidates:
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            continue
    return None


def _actor_label(actor: User | None, token: ApiToken | None, origin: Origin | None) -> str:
    if actor is not None:
        label = actor.username
        if token is not None:
            label += f" (API key {token.prefix}…)"
        return label
    if origin is not None and origin.label:
        return f"{origin.source} {origin.label}"
    return Source.SYSTEM.value


def record_audit(
    *,
    action: str,
    object_type: str,
    obj: models.Model | None = None,
    object_id: str | int = "",
    label: str = "",
    changes: Mapping[str, Any] | None = None,
    actor: User | None = None,
) -> AuditEntry:
    """Write one audit entry. ``obj`` gives the id and label unless they are passed;
    ``actor`` defaults to the request's signed-in user (none for a command or a task)."""
    origin = _origin.get()
    request = origin.request if origin is not None else None
    token: ApiToken | None = None
    ip: str | None = None
    user_agent = ""
    if request is not None:
        auth = getattr(request, "auth", None)
        token = auth if isinstance(auth, ApiToken) else None
        request_user = getattr(request, "user", None)
        if actor is None and isinstance(request_user, User):
            actor = request_user
        ip = client_ip(request)
        user_agent = str(request.META.get("HTTP_USER_AGENT", ""))[:USER_AGENT_MAX]
    if obj is not None:
        object_id = object_id or obj.pk
        label = label or str(obj)
    return AuditEntry.objects.create(
        at=timezone.now(),
        actor=actor,
        actor_label=_actor_label(actor, token, origin)[:200],
        api_token=token,
        action=action,
        object_type=object_type,
        object_id=str(object_id or "")[:64],
        object_label=label[:200],
        changes=masked(changes or {}),
        source=origin.source if origin is not None else Source.SYSTEM,
        ip_address=ip,
        user_agent=user_agent,
    )
