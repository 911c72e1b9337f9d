"""Calling a vendor politely: honour ``429`` + ``Retry-After``, back off exponentially on
rate limits and passing server errors, give up after a bounded number of tries.

Each kind module turns its client library's exceptions into the three below (its
``classify``), so the waiting rule exists once for every vendor."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings

from chs_site.errors import ApplicationError

log = logging.getLogger(__name__)

T = TypeVar("T")


class RateLimited(Exception):
    """The vendor said "too many requests" (or a passing 5xx); ``retry_after`` in seconds
    when it said how long to wait."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class CredentialRejected(ApplicationError):
    """The vendor refused the credential (401/403): revoked, expired or lacking a scope.
    Retrying cannot help; the connector is marked failing until an admin fixes it."""


class VendorError(ApplicationError):
    """The vendor failed in a way that stops the run (its API down beyond the retries, an
    answer the connector cannot read). The cursor stays where the last page committed."""


def parse_retry_after(value: object) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds; an HTTP date is not worth
    parsing for the few seconds vendors ask), None when absent or unreadable."""
    if value is None:
        return None
    try:
        seconds = float(str(value).strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def backoff_delay(attempt: int, retry_after: float | None) -> float:
    """How long to wait before try ``attempt + 1``: what the vendor asked, at least the
    exponential step (base · 2^attempt), never more than the cap."""
    step = settings.CONNECTOR_BACKOFF_BASE_SECONDS * (2**attempt)
    return min(settings.CONNECTOR_BACKOFF_MAX_SECONDS, max(step, retry_after or 0.0))


def wait(seconds: float) -> None:
    """Sleep between tries (one name, so tests can record the waits instead)."""
    time.sleep(seconds)


def call_with_backoff(
    call: Callable[[], T],
    *,
    classify: Callable[[Exception], Exception | None],
    what: str,
) -> T:
    """``call()``, retried while ``classify`` turns its exception into ``RateLimited``.
    ``classify`` returns the exception to raise instead (``CredentialRejected``,
    ``VendorError``), a ``RateLimited`` to wait and retry, or None to re-raise the original."""
    attempts = settings.CONNECTOR_MAX_ATTEMPTS
    for attempt in range(attempts):
        try:
            return call()
        except Exception as exc:
            mapped = classify(exc)
            if mapped is None:
                raise
            if not isinstance(mapped, RateLimited):
                raise mapped from exc
            if attempt + 1 == attempts:
                raise VendorError(
                    f"{what}: still rate-limited after {attempts} tries ({mapped}); the next"
                    " run continues from the last committed page."
                ) from exc
            delay = backoff_delay(attempt, mapped.retry_after)
            log.info(
                "%s: %s; waiting %.1f s (try %d of %d)", what, mapped, delay, attempt + 2, attempts
            )
            wait(delay)
    raise AssertionError("unreachable")  # the loop returns or raises
