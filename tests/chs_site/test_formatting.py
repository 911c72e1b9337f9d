"""Numbers in words: the one helper titles, tables and summaries use."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from chs_site import formatting
from chs_site.formatting import number


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
