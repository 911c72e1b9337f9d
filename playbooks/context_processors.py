from __future__ import annotations

from django.http import HttpRequest


def notifications(request: HttpRequest) -> dict[str, object]:
    """The unread count for the navigation (one indexed COUNT per page)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    from playbooks.selectors import unread_count

    return {"unread_notifications": unread_count(user)}  # type: ignore[arg-type]
