"""An account's external_id is safe everywhere: one documented character set, enforced at
every way in (API, model validation, admin forms, CSV import, the database), and an id
that got around it anyway cannot make a page answer 500."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, connection, transaction
from django.test import Client

from accounts.imports.jobs import create_import_job, run_import, start_import
from accounts.models import EXTERNAL_ID_PATTERN, Account, User
from tests.api.helpers import api_for
from tests.conftest import client_for
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db

CRM_IDS = ["0015g00000XyZ", "cus_ABC", "1234567", "acme.com", "sf:001@eu+x", "A" * 100]
BAD_IDS = ["a/b?c#d", "a b", "..", ".hidden", "-x", "é1", "a\nb", "A" * 101, "", "x%2Fy"]


@pytest.mark.parametrize("external_id", CRM_IDS)
def test_crm_style_ids_are_accepted_by_the_api(admin: User, csm: User, external_id: str) -> None:
    response = api_for(admin).post(
        "/api/v1/accounts/", {"external_id": external_id, "name": "Acme", "owner": "csm"}
    )
    assert response.status_code == 201, response.content
    assert Account.objects.get(external_id=external_id).owner == csm


@pytest.mark.parametrize("external_id", BAD_IDS)
def test_ids_outside_the_character_set_are_refused_by_the_api(
    admin: User, external_id: str
) -> None:
    response = api_for(admin).post(
        "/api/v1/accounts/", {"external_id": external_id, "name": "Acme"}
    )
    assert response.status_code == 400
    assert {d["field"] for d in response.json()["details"]} == {"external_id"}
    assert not Account.objects.exists()


@pytest.mark.parametrize("external_id", BAD_IDS)
def test_model_validation_refuses_ids_outside_the_set(external_id: str) -> None:
    account = Account(external_id=external_id, name="Acme")
    with pytest.raises(ValidationError) as raised:
        account.full_clean()
    assert "external_id" in raised.value.message_dict


@pytest.mark.parametrize("external_id", ["a/b?c#d", ".", "x y", "é1", "-x"])
def test_the_database_refuses_ids_outside_the_set(external_id: str) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.bulk_create([Account(external_id=external_id, name="Acme")])
    AccountFactory.create(external_id="GOOD-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.filter(external_id="GOOD-1").update(external_id=external_id)


def test_the_admin_form_refuses_an_id_outside_the_set(admin_client: Client) -> None:
    response = admin_client.post(
        "/admin/accounts/account/add/",
        {"external_id": "a/b", "name": "Acme", "arr": "0", "lifecycle_stage": "adoption"},
    )
    assert response.status_code == 200  # the form again, with the error
    assert "letters A-Z and a-z, digits and" in response.content.decode()
    assert not Account.objects.exists()


def test_the_schema_documents_the_character_set(client: Client) -> None:
    schema = client.get("/api/schema/?format=json").json()
    account = schema["components"]["schemas"]["Account"]["properties"]["external_id"]
    assert account["pattern"] == EXTERNAL_ID_PATTERN
    assert account["maxLength"] == 100
    assert re.compile(account["pattern"]).match("cus_ABC")


def _drop_the_database_rule() -> None:
    """Let a bad id in, as a row stored before the rule (or by hand) would be."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "ALTER TABLE accounts_account DROP CONSTRAINT account_external_id_charset"
            )
        else:
            cursor.execute("DROP TRIGGER account_external_id_charset_insert")


@pytest.mark.parametrize("persona", ["csm", "manager", "admin"])
def test_a_stored_bad_id_never_makes_a_page_answer_500(
    request: pytest.FixtureRequest, csm: User, manager: User, admin: User, persona: str
) -> None:
    _drop_the_database_rule()
    AccountFactory.create(owner=csm, name="Slashy", external_id="a/b?c#d %x")
    client = client_for(request.getfixturevalue(persona))
    for url in ["/portfolio/", "/team/", "/portfolio/export.csv", "/tasks/"]:
        response = client.get(url)
        assert response.status_code in (200, 302, 404), (
            url,
            response.status_code,
        )  # 404: /team/ is not a CSM page
    page = client.get("/portfolio/").content.decode()
    links = re.findall(r'href="(/accounts/[^"]+/)"', page)
    # Percent-encoded twice: the server decodes one layer, the URL converter the other.
    assert links == ["/accounts/a%252Fb%253Fc%2523d%2520%2525x/"]
    # The link leads to the account, and so do the account's own pages and fragments.
    account_page = client.get(links[0])
    assert account_page.status_code == 200
    assert "Slashy" in account_page.content.decode()
    for suffix in ["health/", "timeline/", "tasks/", "success-plan/"]:
        response = client.get(f"{links[0]}{suffix}", headers={"HX-Request": "true"})
        assert response.status_code == 200, (suffix, response.status_code)


@pytest.mark.parametrize("bad", ["a/b", "x y", ".."])
def test_the_csv_import_refuses_an_id_outside_the_set(
    admin: User, csm: User, settings: Any, tmp_path: Any, bad: str
) -> None:
    settings.MEDIA_ROOT = tmp_path
    text = f"external_id,name,owner\nGOOD-1,Good,csm\n{bad},Bad,csm\n"
    job = create_import_job(
        user=admin, kind="accounts", upload=ContentFile(text.encode(), name="a.csv")
    )
    start_import(job=job, user=admin)
    run_import(job_id=job.pk)  # eager delay_on_commit does not fire inside a test transaction
    job.refresh_from_db()
    assert job.status == "failed"
    assert [(e["line"], e["column"]) for e in job.errors] == [(3, "external_id")]
    assert "letters A-Z and a-z, digits and" in job.errors[0]["reason"]
    assert not Account.objects.exists()


def test_the_csv_import_says_only_that_an_id_outside_scope_cannot_be_used(
    manager: User, csm: User, other_account: Account, settings: Any, tmp_path: Any
) -> None:
    settings.MEDIA_ROOT = tmp_path
    text = "external_id,name,owner\nOTHER-1,Hijack,csm\n"
    job = create_import_job(
        user=manager, kind="accounts", upload=ContentFile(text.encode(), name="a.csv")
    )
    start_import(job=job, user=manager)
    run_import(job_id=job.pk)
    job.refresh_from_db()
    assert [e["reason"] for e in job.errors] == ["'OTHER-1' cannot be used; choose another id"]
