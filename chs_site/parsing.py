"""Reading values that people and machines send (API bodies, CSV cells, form fields).

One home for the rules every entry point shares: what counts as a number, a moment and a
date, and how far ahead of the server's clock a moment may be. Each parser returns the
value or raises ``ValueError`` with a reason a person can act on; callers attach the
index, line or field it concerns."""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import math
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal

from babel import Locale, UnknownLocaleError
from babel import numbers as babel_numbers

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


def parse_number(raw: object) -> float:
    """A finite JSON number (API bodies). CSV cells are text: see ``parse_decimal``."""
    if isinstance(raw, bool) or raw is None:
        raise ValueError("is missing" if raw is None else "must be a number, not true/false")
    if not isinstance(raw, int | float):
        raise ValueError(f"must be a JSON number, not {type(raw).__name__}")
    value = float(raw)
    if math.isnan(value) or math.isinf(value):
        raise ValueError(NOT_FINITE)
    return value


# --- numbers written as text, in a locale ------------------------------------------------
#
# A CSV cell's number is read in one explicit locale (a Babel identifier such as ``en`` or
# ``de``), chosen per import, with Babel's strict parser: its grouping must be the locale's.
# What Babel would also let through (``1_000``, ``NaN``, ``Infinity``, a sign that is not
# at the front) is refused before it gets there. English is the reference: it is how data
# exports and this importer have always written numbers, so in any other locale a text
# that English reads as a *different* number (``1,234``, ``1.234`` in ``de``: a factor of
# 1 000 apart) is refused as ambiguous rather than guessed.

REFERENCE_LOCALE = "en"
NOT_FINITE = "must be a finite number (NaN and Infinity are not allowed)"
_NOT_FINITE_WORDS = frozenset({"nan", "snan", "qnan", "inf", "infinity"})
# The minus signs spreadsheets and CLDR write (Babel's own parser knows only "-"), and
# the invisible direction marks some locales put before them.
_MINUS = ("-", "\u2212")
_DIRECTION_MARKS = dict.fromkeys(map(ord, "\u200e\u200f\u061c"))
_SPACES = frozenset(" \u00a0\u202f\u2009")
_EXPONENT = re.compile(r"(?P<mantissa>.+?)[eE](?P<exponent>[+-]?[0-9]+)")
_DIGITS = frozenset("0123456789")  # ASCII only: float() would also take "١٢٣"
_NUMBER_LIKE = frozenset(",.'\u2019+-") | _SPACES
# A number beyond these is no measurement; they also keep every value a finite float.
MAX_DIGITS = 30
# Babel's strict check re-formats the number in the current decimal context; the default
# 28 digits would overflow on a long number with grouping.
_BABEL_CONTEXT = decimal.Context(prec=2 * MAX_DIGITS + 4)
MAX_EXPONENT = 99


@dataclass(frozen=True)
class _Symbols:
    decimal: str
    group: str


@functools.cache
def _symbols(locale: str) -> _Symbols:
    return _Symbols(
        decimal=babel_numbers.get_decimal_symbol(locale),
        group=babel_numbers.get_group_symbol(locale),
    )


def decimal_mark(locale: str) -> str:
    return _symbols(locale).decimal


def normalise_locale(identifier: str) -> str:
    """``de-DE``/``de_de`` → ``de_DE``; ValueError naming the problem for an unknown one."""
    text = (identifier or "").strip().replace("-", "_")
    try:
        locale = Locale.parse(text)
    except (ValueError, UnknownLocaleError):
        raise ValueError(f"{identifier[:20]!r} is not a locale (e.g. en, de, fr, pt_BR)") from None
    name = str(locale)
    symbols = _symbols(name)
    if len(name) > 16 or not symbols.decimal or symbols.decimal == symbols.group:
        raise ValueError(f"{identifier[:20]!r} is not a locale numbers can be read in")
    return name


@functools.cache
def number_example(locale: str) -> str:
    """How ``locale`` writes one million two hundred thirty-four thousand five hundred and
    sixty-seven point eight nine: the example shown beside a locale's name."""
    return babel_numbers.format_decimal(Decimal("1234567.89"), locale=locale)


@functools.cache
def number_locale_label(locale: str) -> str:
    """``German (de): 1.234.567,89``, what a page shows for a locale."""
    try:
        name = Locale.parse(locale).english_name or locale
    except (ValueError, UnknownLocaleError):
        return locale
    return f"{name} ({locale}): {number_example(locale)}"


def parse_decimal(raw: str, *, locale: str, amount: bool = False) -> Decimal:
    """A finite number written in ``locale`` (a normalised identifier), from a CSV cell.

    ``amount``: a currency sign before or after the number is allowed and ignored (CHS
    keeps amounts without a currency). ValueError says why a text is refused."""
    text = raw.strip()
    if not text:
        raise ValueError("is missing")
    shown = repr(text[:40])
    if len(text) > 2 * MAX_DIGITS:
        raise ValueError(f"{shown} is too long for a number")
    value = _read(text, locale, amount=amount, shown=shown)
    if locale != REFERENCE_LOCALE and _symbols(locale) != _symbols(REFERENCE_LOCALE):
        try:
            english = _read(text, REFERENCE_LOCALE, amount=amount, shown=shown)
        except ValueError:
            english = None
        if english is not None and english != value:
            raise ValueError(_ambiguous(text, locale, value, english))
    return value


def _read(text: str, locale: str, *, amount: bool, shown: str) -> Decimal:
    symbols = _symbols(locale)
    body = text.translate(_DIRECTION_MARKS)
    negative = False
    if body[:1] in ("+", *_MINUS):
        negative, body = body[0] != "+", body[1:].lstrip()
    if amount:
        body = _without_currency(body)
        if not negative and body[:1] in ("+", *_MINUS):  # "$-5", "€ -5"
            negative, body = body[0] != "+", body[1:].lstrip()
    if body.lower() in _NOT_FINITE_WORDS:
        raise ValueError(NOT_FINITE)
    if "%" in body:
        raise ValueError(
            f"{shown} is a percentage; write the plain number the column holds, without %"
        )
    exponent = 0
    if match := _EXPONENT.fullmatch(body):
        body, exponent = match["mantissa"], int(match["exponent"])
        if symbols.group in body or (symbols.group in _SPACES and _SPACES & set(body)):
            raise ValueError(f"{shown} has a thousands separator in scientific notation")
    if symbols.group in _SPACES:  # any kind of space groups thousands where a space does
        body = "".join(symbols.group if ch in _SPACES else ch for ch in body)
    elif symbols.group == "\u2019":  # de_CH's apostrophe, typed as the ASCII one
        body = body.replace("'", symbols.group)
    allowed = {symbols.decimal, symbols.group, *_DIGITS}
    if not body or not set(body) <= allowed:
        if body and set(body) <= _NUMBER_LIKE | allowed:  # digits and the wrong marks
            raise ValueError(_not_in_locale(shown, locale))
        raise ValueError(f"{shown} is not a number")
    if sum(ch in _DIGITS for ch in body) > MAX_DIGITS:
        raise ValueError(f"{shown} has more than {MAX_DIGITS} digits")
    if abs(exponent) > MAX_EXPONENT:
        raise ValueError(f"{shown} is out of range")
    try:
        with decimal.localcontext(_BABEL_CONTEXT):
            value = babel_numbers.parse_decimal(body, locale=locale, strict=True)
    except (babel_numbers.NumberFormatError, ArithmeticError):
        raise ValueError(_not_in_locale(shown, locale)) from None
    value = value.scaleb(exponent) if exponent else value
    if not value.is_finite():  # Babel hands anything it does not check to Decimal()
        raise ValueError(NOT_FINITE)
    return -value if negative else value


def _not_in_locale(shown: str, locale: str) -> str:
    return f"{shown} is not a number in {locale} (it writes numbers like {number_example(locale)})"


def _without_currency(body: str) -> str:
    """The number without one currency sign before or after it ("$1,200", "1.200 €")."""
    if body and unicodedata.category(body[0]) == "Sc":
        return body[1:].lstrip()
    if body and unicodedata.category(body[-1]) == "Sc":
        return body[:-1].rstrip()
    return body


def _ambiguous(text: str, locale: str, value: Decimal, english: Decimal) -> str:
    """Why ``text`` is refused, and the two ways to write what was meant. Both readings
    differ only in what the one separator is: one is a whole number, the other a decimal
    with three places."""
    symbols = _symbols(locale)
    mark = next(ch for ch in text if ch in ",.")
    role = "decimal mark" if mark == symbols.decimal else "thousands separator"
    english_role = "thousands separator" if mark == "," else "decimal point"
    whole, fraction = sorted((value, english), key=abs, reverse=True)
    decimal = f"{fraction:f}".replace(".", symbols.decimal) + "0"
    return (
        f"{text[:40]!r} is ambiguous in {locale}: {locale} reads the {mark!r} as a {role}, "
        f"English files as a {english_role}; write {whole:f} for the whole number "
        f"or {decimal} for the decimal"
    )
