"""Endpoints: webhooks that admins subscribe, and REST hooks that integrations (Zapier)
subscribe and unsubscribe through the API. Every change is audited; the secret is
returned once, at creation, and masked in the audit log."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from django.db import transaction

from accounts.models import User
from accounts.services.audit import Action, ObjectType, diff, record_audit, snapshot
from chs_site.errors import ValidationFailed
from chs_site.secrets import encrypt
from outbound.events import SUBSCRIBABLE
from outbound.models import Endpoint
from outbound.signing import new_secret

URL_MAX = 2000
# Audited under a name the audit log masks: a hook URL often carries its own token.
_AUDITED = ("webhook_url", "description", "event_types", "enabled", "kind")


@dataclass(frozen=True)
class IssuedEndpoint:
    endpoint: Endpoint
    secret: str  # shown once


def clean_url(url: str) -> str:
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationFailed(
            "The URL must be an absolute http:// or https:// address.",
            errors=[{"field": "url", "message": "not an http(s) URL"}],
        )
    if len(url) > URL_MAX:
        raise ValidationFailed(
            f"The URL is longer than {URL_MAX} characters.",
            errors=[{"field": "url", "message": f"longer than {URL_MAX} characters"}],
        )
    return url


def clean_event_types(event_types: list[str]) -> list[str]:
    unknown = [t for t in event_types if t not in SUBSCRIBABLE]
    if unknown or not event_types:
        raise ValidationFailed(
            (f"Unknown event type {unknown[0]!r}; " if unknown else "Choose at least one event; ")
            + f"choose from {', '.join(SUBSCRIBABLE)}.",
            errors=[{"field": "event_types", "message": "unknown or empty"}],
        )
    return sorted(set(event_types), key=SUBSCRIBABLE.index)


def _state(endpoint: Endpoint) -> dict[str, object]:
    state = snapshot(endpoint, ["description", "event_types", "enabled", "kind"])
    state["webhook_url"] = endpoint.url
    return state


@transaction.atomic
def create_endpoint(
    *,
    actor: User,
    url: str,
    event_types: list[str],
    description: str = "",
    kind: str = Endpoint.Kind.WEBHOOK,
) -> IssuedEndpoint:
    endpoint = Endpoint.objects.create(
        kind=kind,
        url=clean_url(url),
        event_types=clean_event_types(event_types),
        description=description.strip()[:200],
        secret_encrypted=encrypt(new_secret()),
        owner=actor,
    )
    record_audit(
        action=Action.CREATED,
        object_type=ObjectType.WEBHOOK,
        obj=endpoint,
        actor=actor,
        changes={**{k: [None, v] for k, v in _state(endpoint).items()}, "secret": [None, "set"]},
    )
    return IssuedEndpoint(endpoint=endpoint, secret=endpoint.secret)


@transaction.atomic
def update_endpoint(
    *,
    actor: User,
    endpoint: Endpoint,
    url: str | None = None,
    event_types: list[str] | None = None,
    description: str | None = None,
    enabled: bool | None = None,
) -> Endpoint:
    locked = Endpoint.objects.select_for_update().get(pk=endpoint.pk)
    before = _state(locked)
    if url is not None:
        locked.url = clean_url(url)
    if event_types is not None:
        locked.event_types = clean_event_types(event_types)
    if description is not None:
        locked.description = description.strip()[:200]
    if enabled is not None:
        locked.enabled = enabled
    changes = diff(before, _state(locked))
    if changes:
        locked.save(update_fields=["url", "event_types", "description", "enabled"])
        action = Action.UPDATED
        if set(changes) == {"enabled"}:
            action = Action.ENABLED if locked.enabled else Action.DISABLED
        record_audit(
            action=action, object_type=ObjectType.WEBHOOK, obj=locked, actor=actor, changes=changes
        )
    return locked


@transaction.atomic
def delete_endpoint(*, actor: User, endpoint: Endpoint) -> None:
    """Delete the endpoint with its deliveries (unsubscribe)."""
    record_audit(
        action=Action.DELETED,
        object_type=ObjectType.WEBHOOK,
        obj=endpoint,
        actor=actor,
        changes={k: [v, None] for k, v in _state(endpoint).items()},
    )
    endpoint.delete()


def subscribe_hook(*, actor: User, target_url: str, event: str) -> IssuedEndpoint:
    """A REST hook (Zapier's subscribe call): one event type, owned by the key's user, so
    it receives only events about accounts that user may see."""
    return create_endpoint(
        actor=actor, url=target_url, event_types=[event], kind=Endpoint.Kind.REST_HOOK
    )
