"""The numbers' locale of an import job: defaulted from the delimiter, chosen on the pages
or with ``import_csv --locale``, stored on the job and shown on its page; the accounts
importer's ARR read in it."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from accounts.imports.jobs import run_import, update_mapping
from accounts.models import Account, ImportJob, User
from chs_site.errors import ApplicationError
from tests.accounts.imports.helpers import run, upload

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_in_tmp")]

ACCOUNTS_EN = 'external_id,name,owner,arr\nA-1,Alpha,csm,"1,234.50"\nA-2,Beta,csm,1.5\n'
ACCOUNTS_DE = "external_id;name;owner;arr\nA-1;Alpha;csm;1.234,50\nA-2;Beta;csm;1,5\n"


def arr_of(external_id: str) -> Decimal:
    return Account.objects.get(external_id=external_id).arr


def test_comma_files_are_read_the_english_way_as_before(admin: User, csm: User) -> None:
    job = run(upload(admin, "accounts", ACCOUNTS_EN), admin)
    assert (job.status, job.number_locale) == ("succeeded", "en")
    assert (arr_of("A-1"), arr_of("A-2")) == (Decimal("1234.50"), Decimal("1.50"))


def test_semicolon_files_default_to_a_decimal_comma(admin: User, csm: User) -> None:
    job = run(upload(admin, "accounts", ACCOUNTS_DE), admin)
    assert (job.status, job.number_locale) == ("succeeded", "de")
    assert (arr_of("A-1"), arr_of("A-2")) == (Decimal("1234.50"), Decimal("1.50"))


def test_a_chosen_locale_beats_the_delimiters_default(admin: User, csm: User) -> None:
    text = "external_id;name;owner;arr\nA-1;Alpha;csm;1 234,50\n"
    job = run(upload(admin, "accounts", text, number_locale="fr"), admin)
    assert (job.status, job.number_locale) == ("succeeded", "fr")
    assert arr_of("A-1") == Decimal("1234.50")


def test_an_ambiguous_arr_is_a_row_error_naming_line_column_and_why(admin: User, csm: User) -> None:
    text = "external_id;name;owner;arr\nA-1;Alpha;csm;12,50\nA-2;Beta;csm;1,234\n"
    job = run(upload(admin, "accounts", text), admin)
    assert job.status == "failed"
    assert job.errors == [
        {
            "line": 3,
            "column": "arr",
            "reason": "'1,234' is ambiguous in de: de reads the ',' as a decimal mark, English "
            "files as a thousands separator; write 1234 for the whole number or 1,2340 for "
            "the decimal",
        }
    ]
    assert not Account.objects.exists()


def test_a_number_written_for_another_locale_is_refused_not_misread(admin: User, csm: User) -> None:
    # Before locales, '1.234,5' lost its comma and became 1.2345 without a word.
    text = 'external_id,name,owner,arr\nA-1,Alpha,csm,"1.234,5"\n'
    job = run(upload(admin, "accounts", text), admin)
    assert job.errors == [
        {
            "line": 2,
            "column": "arr",
            "reason": "'1.234,5' is not a number in en (it writes numbers like 1,234,567.89)",
        }
    ]


def test_arr_may_carry_a_currency_sign(admin: User, csm: User) -> None:
    text = 'external_id;name;owner;arr\nA-1;Alpha;csm;1.200,00 €\nA-2;Beta;csm;"$7,5"\n'
    job = run(upload(admin, "accounts", text), admin)
    assert job.status == "succeeded", job.errors
    assert (arr_of("A-1"), arr_of("A-2")) == (Decimal("1200.00"), Decimal("7.50"))


def test_an_unknown_locale_is_refused_before_anything_is_stored(admin: User) -> None:
    with pytest.raises(ApplicationError, match="'xx' is not a locale"):
        upload(admin, "accounts", ACCOUNTS_EN, number_locale="xx")
    assert not ImportJob.objects.exists()


def test_the_locale_changes_with_the_mapping_until_the_job_starts(admin: User, csm: User) -> None:
    job = upload(admin, "accounts", ACCOUNTS_EN)
    update_mapping(job=job, mapping=job.mapping, number_locale="de-CH")
    job.refresh_from_db()
    assert job.number_locale == "de_CH"
    update_mapping(job=job, mapping=job.mapping)  # no locale given: it stays
    job.refresh_from_db()
    assert job.number_locale == "de_CH"


# --- the pages ---------------------------------------------------------------------------


def test_the_upload_form_offers_a_labelled_locale_with_its_rules(admin_client: Client) -> None:
    page = admin_client.get("/imports/").content.decode()
    assert '<label for="id_number_locale">Numbers are written like</label>' in page
    assert 'aria-describedby="number-format-help"' in page
    assert '<option value="de">German (de): 1.234.567,89</option>' in page
    assert "is refused as ambiguous" in page  # the rules, beside the formats


def test_the_locale_chosen_on_the_page_is_stored_and_shown(admin_client: Client, csm: User) -> None:
    response = admin_client.post(
        "/imports/",
        {
            "kind": "accounts",
            "file": SimpleUploadedFile("a.csv", ACCOUNTS_EN.encode(), "text/csv"),
            "number_locale": "en_IN",
        },
    )
    job = ImportJob.objects.get()
    assert response["Location"] == f"/imports/{job.pk}/"
    assert job.number_locale == "en_IN"
    page = admin_client.get(f"/imports/{job.pk}/")
    assert page.context["form"]["number_locale"].value() == "en_IN"
    assert "Numbers read as English (India) (en_IN): 12,34,567.89" in page.content.decode()


def test_without_a_choice_the_page_takes_the_delimiters_locale(
    admin_client: Client, csm: User
) -> None:
    admin_client.post(
        "/imports/",
        {"kind": "accounts", "file": SimpleUploadedFile("a.csv", ACCOUNTS_DE.encode())},
    )
    assert ImportJob.objects.get().number_locale == "de"


def test_a_locale_not_offered_is_a_form_error(admin_client: Client) -> None:
    response = admin_client.post(
        "/imports/",
        {
            "kind": "accounts",
            "file": SimpleUploadedFile("a.csv", ACCOUNTS_EN.encode()),
            "number_locale": "xx",
        },
    )
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not ImportJob.objects.exists()


def test_the_mapping_page_changes_the_locale_and_the_preview_follows(
    admin_client: Client, admin: User, csm: User
) -> None:
    text = "external_id;name;owner;arr\nA-1;Alpha;csm;1.234,5\n"
    job = upload(admin, "accounts", text, number_locale="en")
    page = admin_client.get(f"/imports/{job.pk}/")
    assert page.context["preview_rows"][0].errors == [
        ("arr", "'1.234,5' is not a number in en (it writes numbers like 1,234,567.89)")
    ]
    fields = {f"field__{k}": v for k, v in job.mapping["fields"].items()}
    response = admin_client.post(f"/imports/{job.pk}/", {**fields, "number_locale": "de"})
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.number_locale == "de"
    page = admin_client.get(f"/imports/{job.pk}/")
    assert page.context["preview_rows"][0].errors == []
    assert admin_client.post(f"/imports/{job.pk}/", {**fields, "run": "1"}).status_code == 302
    run_import(job_id=job.pk)
    result = admin_client.get(f"/imports/{job.pk}/").content.decode()
    assert "<dt>Numbers read as</dt><dd>German (de): 1.234.567,89</dd>" in result
    assert arr_of("A-1") == Decimal("1234.50")


# --- the command -------------------------------------------------------------------------


def test_import_csv_reads_numbers_in_the_locale_given(tmp_path: Path, csm: User) -> None:
    path = tmp_path / "accounts.csv"
    path.write_text('external_id,name,owner,arr\nA-1,Alpha,csm,"1.234,5"\n')
    out = StringIO()
    call_command("import_csv", "accounts", str(path), "--locale", "de", stdout=out)
    assert "numbers read as de" in out.getvalue()
    assert arr_of("A-1") == Decimal("1234.50")
    assert ImportJob.objects.get().number_locale == "de"


def test_import_csv_reports_an_ambiguous_number_and_imports_nothing(
    tmp_path: Path, csm: User
) -> None:
    path = tmp_path / "accounts.csv"
    path.write_text("external_id;name;owner;arr\nA-1;Alpha;csm;1.500\n")
    err = StringIO()
    with pytest.raises(CommandError, match="1 bad row in 1"):
        call_command("import_csv", "accounts", str(path), stderr=err)
    assert err.getvalue().startswith(
        "line 2, column arr: '1.500' is ambiguous in de: de reads the '.' as a thousands "
        "separator, English files as a decimal point; write 1500 for the whole number or "
        "1,5000 for the decimal"
    )
    assert not Account.objects.exists()


def test_import_csv_refuses_an_unknown_locale(tmp_path: Path) -> None:
    path = tmp_path / "accounts.csv"
    path.write_text(ACCOUNTS_EN)
    with pytest.raises(CommandError, match="Number format: 'klingon' is not a locale"):
        call_command("import_csv", "accounts", str(path), "--locale", "klingon")
