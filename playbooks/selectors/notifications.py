"""A person's notifications."""

from __future__ import annotations

from accounts.models import User
from playbooks.models import Notification


def unread_count(user: User) -> int:
    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()


def notifications_for(user: User, *, limit: int = 100) -> list[Notification]:
    return list(Notification.objects.filter(recipient=user).select_related("account")[:limit])
