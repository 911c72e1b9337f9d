from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from playbooks.selectors.notifications import unread_count


def notifications(request: HttpRequest) -> dict[str, object]:
    """The unread count for the navigation: one indexed COUNT, and only on pages that show
    the navigation (HTMX fragments never evaluate it)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"unread_notifications": SimpleLazyObject(lambda: unread_count(user))}  # type: ignore[arg-type]
