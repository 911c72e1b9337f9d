"""Sign-in lockouts: what an admin does to let a locked-out person try again."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from axes.models import AccessAttempt
from axes.utils import reset
from django.db.models import Sum

from accounts.models import User
from accounts.services.audit import Action, ObjectType, record_audit

logger = logging.getLogger("chs.signin")


def unlock_sign_in(*, usernames: Iterable[str], by: str) -> int:
    """Forget the failed sign-ins of ``usernames`` (from every address), which lifts their
    lockouts; each unlock is in the audit log. Returns how many attempt records (one per
    username and address) were dropped."""
    dropped = 0
    for username in usernames:
        failures = (
            AccessAttempt.objects.filter(username=username).aggregate(
                n=Sum("failures_since_start")
            )["n"]
            or 0
        )
        count = reset(username=username)
        dropped += count
        record_audit(
            action=Action.UNLOCKED,
            object_type=ObjectType.SIGN_IN,
            obj=User.objects.filter(username=username).first(),
            label=username,
            changes={"failed_sign_ins": [failures, 0]},
        )
        logger.info(
            "sign-in unlocked: %r by %s (%d failed sign-ins forgotten)",
            username,
            by,
            failures,
            extra={"event": "signin_unlocked", "username": username, "by": by},
        )
    return dropped
