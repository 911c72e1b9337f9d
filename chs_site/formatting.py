"""Turning values into text for people and spreadsheets, one rule each: numbers (sensible
precision), money (the configured currency, ``CHS_CURRENCY``, written in ``CHS_LOCALE``
with Babel), dates (one format site-wide, relative where it helps, the exact moment kept
in ``<time datetime>`` and its title) and CSV cells. The template filters of the same names
are in ``chs_site.templatetags.chs_format`` (built in: no ``{% load %}`` needed)."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

from babel import Locale, UnknownLocaleError
from babel import numbers as babel_numbers
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

# Spreadsheets run a cell that starts with one of these as a formula (OWASP "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

# The one format of a date and of a moment on every page ("Dec 4, 2026", "Dec 4, 2026 14:05").
DATE_FORMAT = "%b %-d, %Y"
DATETIME_FORMAT = "%b %-d, %Y %H:%M"
# Beyond this many days a relative date ("in 40 days") reads worse than the date itself.
RELATIVE_DAYS = 30


def neutralise_csv_cell(value: object) -> str:
    """A cell for a CSV file a person will open in a spreadsheet: text that would start a
    formula gets a leading apostrophe, which makes it text. Numbers CHS writes itself are
    passed as numbers and not through here, so they stay numbers."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def check_money_settings(currency: str, locale: str) -> None:
    """Fail fast on a currency code or locale Babel does not know."""
    try:
        Locale.parse(locale)
    except (ValueError, UnknownLocaleError):
        raise ImproperlyConfigured(
            f"CHS_LOCALE must be a locale such as en_US or de_DE; got {locale!r}."
        ) from None
    if not babel_numbers.is_currency(currency):
        raise ImproperlyConfigured(
            f"CHS_CURRENCY must be an ISO 4217 code such as USD or EUR; got {currency!r}."
        )


def _money_settings() -> tuple[str, str]:
    from django.conf import settings

    return settings.CHS_CURRENCY, settings.CHS_LOCALE


def money(value: float | Decimal | int | None, *, short: bool = False) -> str:
    """An amount in the configured currency, in whole units ("$12,300", "12.300 €"); with
    ``short`` as compact as a chart label allows ("$950", "$12.3K", "$1.4M"). Negative
    amounts keep their sign ("-$4,000"). None is empty."""
    if value is None:
        return ""
    currency, locale = _money_settings()
    if short:
        return babel_numbers.format_compact_currency(
            round(float(value)), currency, locale=locale, fraction_digits=1
        )
    pattern = babel_numbers.parse_pattern(Locale.parse(locale).currency_formats["standard"])
    pattern.frac_prec = (0, 0)
    return pattern.apply(
        Decimal(str(value)).quantize(Decimal(1)),
        Locale.parse(locale),
        currency=currency,
        currency_digits=False,  # whole units: the pattern's own (zero) decimals win
    )


def currency_symbol() -> str:
    """The configured currency's symbol in the configured locale ("$", "€")."""
    currency, locale = _money_settings()
    return babel_numbers.get_currency_symbol(currency, locale=locale)


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


def absolute(value: dt.date | dt.datetime | None) -> str:
    """The site's one format: "Dec 4, 2026" for a date, "Dec 4, 2026 14:05" for a moment
    (in the site's time zone)."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        if timezone.is_aware(value):
            value = timezone.localtime(value)
        return value.strftime(DATETIME_FORMAT)
    return value.strftime(DATE_FORMAT)


def relative(value: dt.date | dt.datetime | None, *, now: dt.datetime | None = None) -> str:
    """How far from now, in words: "just now", "5 minutes ago", "3 hours ago",
    "yesterday", "3 days ago", "today", "tomorrow", "in 12 days". Beyond 30 days, past or
    future, the absolute date reads better and is returned instead."""
    if value is None:
        return ""
    now = timezone.localtime(now or timezone.now())
    if isinstance(value, dt.datetime):
        moment = timezone.localtime(value) if timezone.is_aware(value) else value
        seconds = (now.replace(tzinfo=None) - moment.replace(tzinfo=None)).total_seconds()
        if 0 <= seconds < 60:
            return "just now"
        if 0 < seconds < 3600:
            return f"{plural(int(seconds // 60), 'minute')} ago"
        if 0 < seconds < 86400 and moment.date() == now.date():
            return f"{plural(int(seconds // 3600), 'hour')} ago"
        if -3600 < seconds < 0:
            return f"in {plural(max(1, int(-seconds // 60)), 'minute')}"
        day = moment.date()
    else:
        day = value
    days = (now.date() - day).days
    if abs(days) > RELATIVE_DAYS:
        return absolute(day)
    if days == 0:
        return "today"
    if days == 1:
        return "yesterday"
    if days == -1:
        return "tomorrow"
    return f"{plural(days, 'day')} ago" if days > 0 else f"in {plural(-days, 'day')}"


def iso(value: dt.date | dt.datetime | None) -> str:
    """The machine-readable form for ``<time datetime>``."""
    if value is None:
        return ""
    return value.isoformat()
