"""Sign-in lockouts: what an admin does to let a locked-out person try again."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from axes.utils import reset

logger = logging.getLogger("chs.signin")


def unlock_sign_in(*, usernames: Iterable[str], by: str) -> int:
    """Forget the failed sign-ins of ``usernames`` (from every address), which lifts their
    lockouts. Returns how many recorded attempts were dropped."""
    dropped = 0
    for username in usernames:
        count = reset(username=username)
        dropped += count
        logger.info(
            "sign-in unlocked: %r by %s (%d failed attempts forgotten)",
            username,
            by,
            count,
            extra={"event": "signin_unlocked", "username": username, "by": by},
        )
    return dropped
