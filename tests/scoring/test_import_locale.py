"""Scoring's importers (metric values long and wide, outcomes) read numbers in the job's
locale; the metric files' fast path accepts exactly what the locale parser accepts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from accounts.imports.jobs import importer_for
from accounts.models import Account, ImportJob, User
from scoring.importers import MetricsLongImporter
from scoring.models import MetricDefinition, MetricValue, Outcome
from tests.accounts.imports.helpers import run, upload

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_in_tmp")]


@pytest.fixture
def seats(db: None) -> MetricDefinition:
    return MetricDefinition.objects.create(key="seats", name="Seats")


def stored_values() -> list[float]:
    return list(MetricValue.objects.order_by("observed_at").values_list("value", flat=True))


def test_an_english_metric_file_imports_exactly_as_before(
    admin: User, account: Account, logins: MetricDefinition
) -> None:
    text = (
        "account,metric,value,observed_at\n"
        "ACME-1,logins,12,2026-01-01\n"
        "ACME-1,logins,1.234,2026-01-02\n"
        'ACME-1,logins,"1,234",2026-01-03\n'
        "ACME-1,logins,1e3,2026-01-04\n"
        "ACME-1,logins, 0.1 ,2026-01-05\n"
    )
    job = run(upload(admin, "metrics_long", text), admin)
    assert (job.status, job.number_locale) == ("succeeded", "en")
    assert stored_values() == [12.0, 1.234, 1234.0, 1000.0, 0.1]


def test_a_semicolon_metric_file_is_read_with_a_decimal_comma(
    admin: User, account: Account, logins: MetricDefinition
) -> None:
    text = (
        "account;metric;value;observed_at\n"
        "ACME-1;logins;12,5;2026-01-01\n"
        "ACME-1;logins;1.234.567,5;2026-01-02\n"
        "ACME-1;logins;-0,25;2026-01-03\n"
        "ACME-1;logins;7;2026-01-04\n"
    )
    job = run(upload(admin, "metrics_long", text), admin)
    assert (job.status, job.number_locale) == ("succeeded", "de")
    assert stored_values() == [12.5, 1234567.5, -0.25, 7.0]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (
            "1,234",
            "'1,234' is ambiguous in de: de reads the ',' as a decimal mark, English files as "
            "a thousands separator; write 1234 for the whole number or 1,2340 for the decimal",
        ),
        ("1.5", "'1.5' is not a number in de (it writes numbers like 1.234.567,89)"),
        ("12%", "'12%' is a percentage; write the plain number the column holds, without %"),
        ("NaN", "must be a finite number (NaN and Infinity are not allowed)"),
        ("€5", "'€5' is not a number"),
        ("", "is missing"),
    ],
)
def test_a_metric_value_the_locale_does_not_read_is_a_row_error(
    admin: User, account: Account, logins: MetricDefinition, value: str, reason: str
) -> None:
    text = f"account;metric;value;observed_at\nACME-1;logins;1;2026-01-01\nACME-1;logins;{value};2026-01-02\n"
    job = run(upload(admin, "metrics_long", text), admin)
    assert job.errors == [{"line": 3, "column": "value", "reason": reason}]
    assert not MetricValue.objects.exists()


def test_a_wide_file_reads_each_metric_column_in_the_locale(
    admin: User, account: Account, logins: MetricDefinition, seats: MetricDefinition
) -> None:
    text = (
        "account;observed_at;logins;seats\n"
        "ACME-1;2026-01-01;1 234,5;\n"  # an empty cell: no value for that metric
        "ACME-1;2026-01-02;2;3,25\n"
    )
    job = run(upload(admin, "metrics_wide", text, number_locale="fr"), admin)
    assert job.status == "succeeded", job.errors
    assert sorted(stored_values()) == [2.0, 3.25, 1234.5]


def test_a_wide_file_names_the_metric_column_of_an_ambiguous_value(
    admin: User, account: Account, logins: MetricDefinition, seats: MetricDefinition
) -> None:
    text = "account;observed_at;logins;seats\nACME-1;2026-01-01;5;12,500\n"
    job = run(upload(admin, "metrics_wide", text), admin)
    assert [(e["line"], e["column"]) for e in job.errors] == [(2, "seats")]
    assert job.errors[0]["reason"].startswith("'12,500' is ambiguous in de")


def test_outcomes_read_the_arr_change_in_the_locale(admin: User, account: Account) -> None:
    text = (
        "account;kind;occurred_at;arr_change\n"
        "ACME-1;expanded;2026-01-01;1.250,50 €\n"
        "ACME-1;contracted;2026-02-01;-300\n"
    )
    job = run(upload(admin, "outcomes", text), admin)
    assert job.status == "succeeded", job.errors
    changes = Outcome.objects.order_by("occurred_at").values_list("arr_change", flat=True)
    assert list(changes) == [Decimal("1250.50"), Decimal("-300")]


def test_an_outcomes_arr_change_english_would_read_otherwise_is_refused(
    admin: User, account: Account
) -> None:
    text = "account;kind;occurred_at;arr_change\nACME-1;expanded;2026-01-01;2.500\n"
    job = run(upload(admin, "outcomes", text), admin)
    assert [(e["line"], e["column"]) for e in job.errors] == [(2, "arr_change")]
    assert "'2.500' is ambiguous in de" in job.errors[0]["reason"]
    assert not Outcome.objects.exists()


plain_or_not = st.one_of(
    st.from_regex(r"[+-]?[0-9]{1,17}([.,][0-9]{0,17})?", fullmatch=True),
    st.text(alphabet="0123456789.,-+e _", min_size=1, max_size=12),
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=plain_or_not, locale=st.sampled_from(["en", "de", "de_CH", "fr"]))
@example(value="1_000", locale="en")
@example(value="1.234", locale="de")
@example(value="1.5", locale="de")
def test_the_fast_path_accepts_exactly_what_the_locale_parser_accepts(
    admin: User, account: Account, logins: MetricDefinition, value: str, locale: str
) -> None:
    job = ImportJob.objects.filter(number_locale=locale).first() or upload(
        admin,
        "metrics_long",
        "account,metric,value,observed_at\nACME-1,logins,1,2026-01-01\n",
        number_locale=locale,
    )
    importer = importer_for(job, admin)
    assert isinstance(importer, MetricsLongImporter)
    cells = ["ACME-1", "logins", value, "2026-01-01"]
    fast, fast_errors = importer.parse(cells)
    careful, careful_errors = importer.parse_carefully(cells)
    assert fast_errors == careful_errors
    assert [(v.value, v.observed_at) for v in fast or []] == [
        (v.value, v.observed_at) for v in careful or []
    ]
    if careful:
        assert careful[0].observed_at == dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
