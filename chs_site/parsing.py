"""Reading values that people and machines send (API bodies, CSV cells, form fields).

One home for the rules every entry point shares: what counts as a number, a moment and a
date, and how far ahead of the server's clock a moment may be. Each parser returns the
value or raises ``ValueError`` with a reason a person can act on; callers attach the
index, line or field it concerns."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal, InvalidOperation

# Clocks drift; a value stamped a little ahead of ours is not an error.
FUTURE_TOLERANCE = dt.timedelta(minutes=5)


def parse_observed_at(raw: object) -> dt.datetime:
    """ISO 8601 date or date-time; a value without a time zone is taken as UTC."""
    if raw is None or raw == "":
        raise ValueError("is missing")
    if not isinstance(raw, str):
        raise ValueError(f"must be an ISO 8601 date-time string, not {type(raw).__name__}")
    text = raw.strip()
    try:
        parsed = dt.datetime.fromisoformat(
            text.replace("Z", "+00:00") if text.endswith("Z") else text
        )
    except ValueError:
        raise ValueError(
            f"{raw[:40]!r} is not an ISO 8601 date-time (e.g. 2026-11-01T09:30:00Z)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed


def is_in_future(moment: dt.datetime, now: dt.datetime) -> bool:
    """Later than the server's clock allows (``FUTURE_TOLERANCE`` ahead of ``now``)."""
    return moment > now + FUTURE_TOLERANCE


def check_not_future(moment: dt.datetime, now: dt.datetime) -> None:
    if is_in_future(moment, now):
        minutes = int(FUTURE_TOLERANCE.total_seconds() // 60)
        raise ValueError(
            f"{moment.isoformat()} is in the future (more than {minutes} minutes ahead of the server)"
        )


def parse_number(raw: object, *, allow_text: bool) -> float:
    """A finite number. JSON numbers only from the API; text too from CSV files."""
    if isinstance(raw, bool) or raw is None:
        raise ValueError("is missing" if raw is None else "must be a number, not true/false")
    if isinstance(raw, int | float):
        value = float(raw)
    elif isinstance(raw, str) and allow_text:
        text = raw.strip()
        if not text:
            raise ValueError("is missing")
        try:
            value = float(text.replace(",", ""))
        except ValueError:
            raise ValueError(f"{text[:40]!r} is not a number") from None
    else:
        raise ValueError(f"must be a JSON number, not {type(raw).__name__}")
    if math.isnan(value) or math.isinf(value):
        raise ValueError("must be a finite number (NaN and Infinity are not allowed)")
    return value


def parse_decimal(raw: str) -> Decimal:
    """An amount from a CSV cell: thousands separators and a dollar sign are allowed."""
    try:
        value = Decimal(raw.replace(",", "").replace("$", "").strip())
    except InvalidOperation:
        raise ValueError(f"{raw!r} is not a number") from None
    if not value.is_finite():
        raise ValueError(f"{raw!r} is not a finite number")
    return value
