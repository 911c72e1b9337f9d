"""Numbers in words: the one helper titles, tables and summaries use."""

from __future__ import annotations

from decimal import Decimal

import pytest

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
