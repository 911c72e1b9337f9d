"""Turning values into text for people and spreadsheets, one rule each."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

# Spreadsheets run a cell that starts with one of these as a formula (OWASP "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise_csv_cell(value: object) -> str:
    """A cell for a CSV file a person will open in a spreadsheet: text that would start a
    formula gets a leading apostrophe, which makes it text. Numbers CHS writes itself are
    passed as numbers and not through here, so they stay numbers."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def money(value: float | None) -> str:
    """An amount in dollars, short: $950, $12k, $1.4M."""
    if value is None:
        return ""
    if abs(value) >= 1_000_000:
        return f"${value / 1_000_000:.1f}M"
    if abs(value) >= 1_000:
        return f"${value / 1_000:.0f}k"
    return f"${value:.0f}"


def number(value: float | Decimal | int | None, *, places: int = 1) -> str:
    """A number for a sentence or a table cell: at most ``places`` decimals, no trailing
    zeros, thousands separated (5.142857 → "5.1", 40.0 → "40", 12500 → "12,500"). Below 1
    it keeps two significant digits instead, so a small rate does not read as 0."""
    if value is None:
        return ""
    x = float(value)
    if not math.isfinite(x):
        return str(x)
    if 0 < abs(x) < 1:
        text = f"{x:.2g}"
        if "e" not in text:
            return text
    text = f"{round(x, places):,.{places}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def day_month(day: dt.date, *, today: dt.date) -> str:
    """A date in a sentence, short: "1 Dec" (with the year when it is not ``today``'s)."""
    if day.year == today.year:
        return f"{day.day} {day:%b}"
    return f"{day.day} {day:%b} {day.year}"


def days_ago(days: int) -> str:
    """How long ago, in days: "today", "yesterday", "5 days ago"."""
    if days <= 0:
        return "today"
    if days == 1:
        return "yesterday"
    return f"{days} days ago"


def in_days(days: int) -> str:
    """How soon, in days: "today", "tomorrow", "in 21 days"."""
    if days <= 0:
        return "today"
    if days == 1:
        return "tomorrow"
    return f"in {days} days"


def plural(count: int, word: str) -> str:
    """ "1 task", "2 tasks" (regular English plurals only)."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"
