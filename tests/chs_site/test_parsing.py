"""Numbers written as text in a locale (chs_site.parsing.parse_decimal): each rule the
imports promise, and that Babel's own formatting in a locale reads back in that locale."""

from __future__ import annotations

from decimal import Decimal

import pytest
from babel.numbers import format_decimal
from hypothesis import example, given
from hypothesis import strategies as st

from accounts.imports.reading import NUMBER_LOCALES
from chs_site.parsing import NOT_FINITE, normalise_locale, parse_decimal

AMBIGUOUS_1234_DE = (
    "'1,234' is ambiguous in de: de reads the ',' as a decimal mark, English files as a "
    "thousands separator; write 1234 for the whole number or 1,2340 for the decimal"
)


def read(text: str, locale: str, *, amount: bool = False) -> Decimal | str:
    """The value, or the reason it is refused."""
    try:
        return parse_decimal(text, locale=locale, amount=amount)
    except ValueError as exc:
        return str(exc)


@pytest.mark.parametrize(
    ("text", "locale", "expected"),
    [
        # English reads as the importer always did: ',' groups, '.' is the point.
        ("1,234", "en", Decimal("1234")),
        ("1.234", "en", Decimal("1.234")),
        ("1,234,567.89", "en", Decimal("1234567.89")),
        ("+1,234", "en", Decimal("1234")),
        ("-0.5", "en", Decimal("-0.5")),
        (".5", "en", Decimal("0.5")),
        ("  42  ", "en", Decimal("42")),
        ("1e3", "en", Decimal("1000")),
        ("1.5E-3", "en", Decimal("0.0015")),
        # The decimal-comma locales, each with its own grouping.
        ("1.234,5", "de", Decimal("1234.5")),
        ("1.234.567", "de", Decimal("1234567")),
        ("-1,5", "de", Decimal("-1.5")),
        ("\u22121,5", "de", Decimal("-1.5")),  # the typographic minus sign
        ("0,125", "de", Decimal("0.125")),
        ("1,5E3", "de", Decimal("1500")),
        ("1 234,5", "fr", Decimal("1234.5")),  # an ordinary space groups where one does
        ("1\u00a0234,5", "fr", Decimal("1234.5")),
        ("1\u202f234,5", "fr", Decimal("1234.5")),
        ("1 234 567,5", "sv", Decimal("1234567.5")),
        ("1'234.5", "de_CH", Decimal("1234.5")),  # the apostrophe as typed
        ("12,34,567.5", "en_IN", Decimal("1234567.5")),
        # The longest numbers allowed, grouped: beyond the default decimal precision.
        ("1" + ",000" * 9 + ".12", "en", Decimal("1" + "000" * 9 + ".12")),
    ],
)
def test_numbers_written_the_locales_way_are_read(
    text: str, locale: str, expected: Decimal
) -> None:
    assert read(text, locale) == expected


@pytest.mark.parametrize(
    ("text", "locale", "reason"),
    [
        ("1,234", "de", AMBIGUOUS_1234_DE),
        (
            "1.234",
            "de",
            "'1.234' is ambiguous in de: de reads the '.' as a thousands separator, English "
            "files as a decimal point; write 1234 for the whole number or 1,2340 for the decimal",
        ),
        (
            "-12,345",
            "fr",
            "'-12,345' is ambiguous in fr: fr reads the ',' as a decimal mark, English files "
            "as a thousands separator; write -12345 for the whole number or -12,3450 for the "
            "decimal",
        ),
        (
            "1.234,5",
            "en",
            "'1.234,5' is not a number in en (it writes numbers like 1,234,567.89)",
        ),
        ("-1,5", "en", "'-1,5' is not a number in en (it writes numbers like 1,234,567.89)"),
        ("1 234,5", "en", "'1 234,5' is not a number in en (it writes numbers like 1,234,567.89)"),
        ("1 234,5", "de", "'1 234,5' is not a number in de (it writes numbers like 1.234.567,89)"),
        ("1,234.5", "de", "'1,234.5' is not a number in de (it writes numbers like 1.234.567,89)"),
        ("1.5", "de", "'1.5' is not a number in de (it writes numbers like 1.234.567,89)"),
        (
            "1,234",
            "de_CH",
            "'1,234' is not a number in de_CH (it writes numbers like 1’234’567.89)",
        ),
        ("€1,200", "en", "'€1,200' is not a number"),  # a currency only beside an amount
        ("12%", "en", "'12%' is a percentage; write the plain number the column holds, without %"),
        ("NaN", "en", NOT_FINITE),
        ("inf", "de", NOT_FINITE),
        ("-Infinity", "en", NOT_FINITE),
        ("", "en", "is missing"),
        ("   ", "de", "is missing"),
        ("twelve", "en", "'twelve' is not a number"),
        ("1_000", "en", "'1_000' is not a number"),  # Python syntax, not a number format
        ("(5)", "en", "'(5)' is not a number"),
        ("\u0661\u0662\u0663", "en", "'١٢٣' is not a number"),  # digits other than ASCII
        ("5-", "en", "'5-' is not a number in en (it writes numbers like 1,234,567.89)"),
        ("1,5e3", "en", "'1,5e3' has a thousands separator in scientific notation"),
        ("1e400", "en", "'1e400' is out of range"),
        ("1" * 31, "en", f"{'1' * 31!r} has more than 30 digits"),
        ("1" + ",000" * 10, "en", f"{('1' + ',000' * 10)[:40]!r} has more than 30 digits"),
    ],
)
def test_what_a_locale_does_not_write_is_refused_with_a_reason(
    text: str, locale: str, reason: str
) -> None:
    assert read(text, locale) == reason


@pytest.mark.parametrize(
    ("text", "locale", "expected"),
    [
        ("$1,200", "en", Decimal("1200")),
        ("€1,200.50", "en", Decimal("1200.50")),
        ("-$5", "en", Decimal("-5")),
        ("1.200,00 €", "de", Decimal("1200.00")),
        ("£ 7", "en", Decimal("7")),
    ],
)
def test_an_amount_may_carry_one_currency_sign(text: str, locale: str, expected: Decimal) -> None:
    assert read(text, locale, amount=True) == expected
    assert read(text, locale) == f"{text!r} is not a number"  # a metric value may not


def test_locales_are_normalised_and_unknown_ones_refused() -> None:
    assert normalise_locale("de-DE") == "de_DE"
    assert normalise_locale("pt_br") == "pt_BR"
    with pytest.raises(ValueError, match="'xx' is not a locale"):
        normalise_locale("xx")


amounts = st.builds(
    lambda digits, places: Decimal(digits).scaleb(-places),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.integers(min_value=0, max_value=8),
)


@given(number=amounts, locale=st.sampled_from(NUMBER_LOCALES))
@example(number=Decimal("1234"), locale="de")
@example(number=Decimal("1.234"), locale="de")
@example(number=Decimal("-1234567.5"), locale="sv")
@example(number=Decimal("1234.5"), locale="en")
def test_a_number_babel_writes_in_a_locale_reads_back_as_the_same_number(
    number: Decimal, locale: str
) -> None:
    text = format_decimal(number, locale=locale, decimal_quantization=False)
    result = read(text, locale)
    if isinstance(result, Decimal):
        assert result == number
        return
    # The one refusal: English would read the same text as another number. Never a
    # different number, never "not a number".
    assert locale not in ("en", "en_IN", "de_CH"), (text, result)
    assert result.startswith(f"{text!r} is ambiguous in {locale}"), result
    english = read(text, "en")
    assert isinstance(english, Decimal) and english != number
