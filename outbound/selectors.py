"""Reads for the Webhooks page and the API: endpoints, their recent deliveries, and
samples of each event type for no-code tools."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet
from django.http import Http404

from accounts.models import User
from accounts.selectors.access import visible_accounts
from outbound.events import example_payload
from outbound.models import Delivery, Endpoint, Event

RECENT_DELIVERIES = 50
SAMPLE_LOOKBACK = 50


def endpoints_with_counts() -> QuerySet[Endpoint]:
    """Every endpoint (admins only reach this), with its delivery counts by status."""
    return (
        Endpoint.objects.select_related("owner")
        .annotate(
            delivered=Count("deliveries", filter=Q(deliveries__status=Delivery.Status.SUCCEEDED)),
            waiting=Count(
                "deliveries",
                filter=Q(deliveries__status__in=[Delivery.Status.PENDING, Delivery.Status.SENDING]),
            ),
            failed=Count("deliveries", filter=Q(deliveries__status=Delivery.Status.FAILED)),
        )
        .order_by("-created_at", "-id")
    )


def recent_deliveries(endpoint: Endpoint, limit: int = RECENT_DELIVERIES) -> list[Delivery]:
    return list(
        Delivery.objects.filter(endpoint=endpoint)
        .select_related("event")
        .defer("event__payload")
        .order_by("-id")[:limit]
    )


def deliveries_of(endpoint: Endpoint) -> QuerySet[Delivery]:
    return Delivery.objects.filter(endpoint=endpoint).select_related("event").order_by("-id")


def hook_for(user: User, pk: int) -> Endpoint:
    """A REST hook ``user`` may unsubscribe (their own; an admin any): else 404."""
    hooks = Endpoint.objects.filter(pk=pk, kind=Endpoint.Kind.REST_HOOK)
    if not user.is_admin:
        hooks = hooks.filter(owner=user)
    hook = hooks.first()
    if hook is None:
        raise Http404("No such hook.")
    return hook


def sample_payload(user: User, event_type: str) -> dict[str, Any]:
    """The newest payload of ``event_type`` sent about an account ``user`` may see (an
    admin: any), else the documented example."""
    recent = list(
        Event.objects.filter(type=event_type)
        .order_by("-id")
        .values_list("payload", flat=True)[:SAMPLE_LOOKBACK]
    )
    if user.is_admin and recent:
        return recent[0]
    account_ids = {
        p.get("data", {}).get("account", {}).get("id") for p in recent if isinstance(p, dict)
    } - {None}
    visible = set(visible_accounts(user).filter(pk__in=account_ids).values_list("pk", flat=True))
    for payload in recent:
        if payload.get("data", {}).get("account", {}).get("id") in visible:
            return payload
    return example_payload(event_type)
