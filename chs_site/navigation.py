"""The site's navigation: which pages each role sees (admins see everything).

It names pages of every app, so it lives with the project's URLs, above the apps."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpRequest
from django.urls import reverse

if TYPE_CHECKING:
    from accounts.models import User

# (label, url name, roles that see it; admins see everything).
NAV_ENTRIES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Today", "playbooks:today", ("csm", "manager")),
    ("Portfolio", "accounts:portfolio", ("csm", "manager")),
    ("Tasks", "playbooks:task_queue", ("csm", "manager")),
    ("Team", "accounts:team_dashboard", ("manager",)),
    ("Scorecards", "scoring:scorecards", ("csm", "manager")),
    ("Validation", "scoring:validation", ("manager",)),
    ("Playbooks", "playbooks:playbooks", ("manager",)),
    ("Surveys", "surveys:surveys", ("csm", "manager")),
    ("Imports", "accounts:imports", ("manager",)),
    ("API tokens", "accounts:api_tokens", ()),
    ("Slack", "playbooks:slack", ()),
    ("Webhooks", "outbound:webhooks", ()),
    ("Connectors", "connectors:connectors", ()),
    ("Quarantine", "scoring:quarantine", ()),
    ("Product analytics", "scoring:product_analytics", ()),
    ("Audit log", "accounts:audit_log", ()),
)


def nav_items_for(user: User, current_path: str = "") -> list[dict[str, object]]:
    items = []
    for label, url_name, roles in NAV_ENTRIES:
        if not (user.is_admin or user.role in roles):
            continue
        url = reverse(url_name)
        items.append({"name": label, "url": url, "active": current_path.startswith(url)})
    return items


def navigation(request: HttpRequest) -> dict[str, object]:
    """Template context processor: ``nav_items`` for the signed-in user."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": []}
    return {"nav_items": nav_items_for(user, request.path)}
