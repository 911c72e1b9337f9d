"""The formatting layer: numbers, money in the configured currency, dates (one format,
relative where it helps) and the template filters that call them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.template import Context, Template
from django.test import override_settings

from chs_site import formatting
from chs_site.formatting import (
    absolute,
    check_money_settings,
    currency_symbol,
    money,
    number,
    relative,
)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (5.142857142857143, "5.1"),
        (40.0, "40"),
        (12500, "12,500"),
        (1234567.891, "1,234,567.9"),
        (Decimal("49.95"), "50"),
        (0.0342, "0.034"),
        (-0.0, "0"),
        (-3.25, "-3.2"),
        (None, ""),
    ],
)
def test_number_reads_with_sensible_precision(value: object, text: str) -> None:
    assert number(value) == text  # type: ignore[arg-type]


def test_number_takes_more_places_when_asked() -> None:
    assert number(2.0 / 3, places=2) == "0.67"
    assert number(12.3456, places=2) == "12.35"


def test_dates_and_counts_in_sentences() -> None:
    today = dt.date(2026, 12, 4)
    assert formatting.day_month(dt.date(2026, 12, 1), today=today) == "1 Dec"
    assert formatting.day_month(dt.date(2025, 11, 30), today=today) == "30 Nov 2025"
    assert [formatting.days_ago(n) for n in (0, 1, 5)] == ["today", "yesterday", "5 days ago"]
    assert [formatting.in_days(n) for n in (0, 1, 21)] == ["today", "tomorrow", "in 21 days"]
    assert (formatting.plural(1, "task"), formatting.plural(2, "task")) == ("1 task", "2 tasks")


@pytest.mark.parametrize(
    ("currency", "locale", "value", "full", "short"),
    [
        ("USD", "en_US", 12300, "$12,300", "$12.3K"),
        ("USD", "en_US", Decimal("-4000.40"), "-$4,000", "-$4K"),
        ("USD", "en_US", 1_450_000, "$1,450,000", "$1.4M"),
        ("EUR", "de_DE", 1_450_000, "1.450.000\xa0€", "1,4\xa0Mio.\xa0€"),
        ("GBP", "en_GB", 950.6, "£951", "£951"),
    ],
)
def test_money_uses_the_configured_currency_and_locale(
    currency: str, locale: str, value: object, full: str, short: str
) -> None:
    with override_settings(CHS_CURRENCY=currency, CHS_LOCALE=locale):
        assert money(value) == full  # type: ignore[arg-type]
        assert money(value, short=True) == short  # type: ignore[arg-type]
    assert money(None) == ""


def test_currency_symbol_follows_the_setting() -> None:
    with override_settings(CHS_CURRENCY="EUR", CHS_LOCALE="en_US"):
        assert currency_symbol() == "€"


@pytest.mark.parametrize(
    ("currency", "locale", "message"),
    [("XYZ", "en_US", "CHS_CURRENCY must be an ISO 4217 code"), ("USD", "xx_YY", "CHS_LOCALE")],
)
def test_unknown_currency_or_locale_fails_fast(currency: str, locale: str, message: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=message):
        check_money_settings(currency, locale)


NOW = dt.datetime(2026, 12, 4, 15, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (NOW - dt.timedelta(seconds=20), "just now"),
        (NOW - dt.timedelta(minutes=5), "5 minutes ago"),
        (NOW - dt.timedelta(hours=3), "3 hours ago"),
        (NOW - dt.timedelta(days=1), "yesterday"),
        (NOW - dt.timedelta(days=3, hours=2), "3 days ago"),
        (NOW + dt.timedelta(minutes=30), "in 30 minutes"),
        (dt.date(2026, 12, 4), "today"),
        (dt.date(2026, 12, 5), "tomorrow"),
        (dt.date(2026, 12, 16), "in 12 days"),
        (dt.date(2026, 10, 1), "Oct 1, 2026"),
        (dt.date(2027, 3, 1), "Mar 1, 2027"),
        (None, ""),
    ],
)
def test_relative_dates_read_as_words_and_far_ones_as_the_date(value: object, text: str) -> None:
    assert relative(value, now=NOW) == text  # type: ignore[arg-type]


def test_absolute_is_the_one_site_format() -> None:
    assert absolute(dt.date(2026, 3, 7)) == "Mar 7, 2026"
    assert absolute(dt.datetime(2026, 3, 7, 9, 5, tzinfo=dt.UTC)) == "Mar 7, 2026 09:05"
    assert absolute(None) == ""


def test_template_filters_are_built_in_and_keep_the_exact_moment() -> None:
    moment = dt.datetime.now(dt.UTC) - dt.timedelta(days=3, hours=1)
    html = Template("{{ at|when }} {{ arr|money }} {{ x|num }} {{ none|money }}").render(
        Context({"at": moment, "arr": Decimal("12300.40"), "x": 5.142857142857143, "none": None})
    )
    assert (
        f'<time datetime="{moment.isoformat()}" title="{absolute(moment)}">3 days ago</time>'
        in html
    )
    assert "$12,300 5.1 —" in html
