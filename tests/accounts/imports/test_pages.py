"""/imports/ pages: who may use them, upload → map → preview → run → result, HTMX progress."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from accounts.imports.jobs import run_import
from accounts.models import Account, ImportJob, User
from scoring.models import MetricDefinition, MetricValue
from tests.accounts.imports.helpers import upload
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

GOOD = "account,metric,value,observed_at\nACME-1,logins,3,2026-01-01\nACME-1,logins,4,2026-01-02\n"


def test_csm_cannot_see_the_imports_pages(csm_client: Client, admin: User) -> None:
    job = upload(admin, "accounts", "external_id,name\nX,Y\n")
    for url in (
        "/imports/",
        f"/imports/{job.pk}/",
        f"/imports/{job.pk}/progress/",
        f"/imports/{job.pk}/errors.csv",
    ):
        assert csm_client.get(url).status_code == 404, url


def test_imports_page_needs_login(client: Client) -> None:
    assert client.get("/imports/").status_code == 302


def test_manager_sees_only_their_own_jobs(
    manager_client: Client, manager: User, admin: User, django_assert_max_num_queries: object
) -> None:
    mine = upload(manager, "accounts", "external_id,name\n", name="mine.csv")
    theirs = upload(admin, "accounts", "external_id,name\n", name="theirs.csv")
    with django_assert_max_num_queries(8):  # type: ignore[operator]
        response = manager_client.get("/imports/")
    assert [j.pk for j in response.context["jobs"]] == [mine.pk]
    assert manager_client.get(f"/imports/{theirs.pk}/").status_code == 404
    assert client_for(admin).get(f"/imports/{mine.pk}/").status_code == 200


def test_upload_map_preview_and_run_through_the_pages(
    admin_client: Client,
    account: Account,
    logins: MetricDefinition,
    django_assert_max_num_queries: object,
) -> None:
    response = admin_client.post(
        "/imports/",
        {"kind": "metrics_long", "file": SimpleUploadedFile("m.csv", GOOD.encode(), "text/csv")},
    )
    assert response.status_code == 302
    job = ImportJob.objects.get()
    assert response["Location"] == f"/imports/{job.pk}/"

    with django_assert_max_num_queries(12):  # type: ignore[operator]
        page = admin_client.get(f"/imports/{job.pk}/")
    assert page.status_code == 200
    assert [r.line for r in page.context["preview_rows"]] == [2, 3]
    assert page.context["form"]["field__account"].value() == "account"

    mapping = {
        "field__account": "account",
        "field__metric": "metric",
        "field__value": "value",
        "field__observed_at": "observed_at",
    }
    response = admin_client.post(f"/imports/{job.pk}/", {**mapping, "run": "1"})
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == "queued"
    run_import(job_id=job.pk)  # what the worker does once the transaction commits
    page = admin_client.get(f"/imports/{job.pk}/")
    assert page.context["job"].status == "succeeded"
    assert b"Imported 2 rows." in page.content
    assert MetricValue.objects.count() == 2


def test_upload_errors_are_shown_on_the_form(admin_client: Client) -> None:
    response = admin_client.post(
        "/imports/", {"kind": "accounts", "file": SimpleUploadedFile("e.csv", b"", "text/csv")}
    )
    assert response.status_code == 200
    assert "The submitted file is empty." in response.content.decode()
    response = admin_client.post(
        "/imports/",
        {"kind": "accounts", "file": SimpleUploadedFile("e.csv", b"a,a\n1,2\n", "text/csv")},
    )
    assert "Column names must be unique" in response.content.decode()
    assert not ImportJob.objects.exists()


def test_run_with_an_incomplete_mapping_explains_what_is_missing(
    admin_client: Client, admin: User
) -> None:
    job = upload(admin, "metrics_long", "a,b\n1,2\n")
    response = admin_client.post(f"/imports/{job.pk}/", {"run": "1"}, follow=True)
    text = response.content.decode()
    assert "account: choose the column that holds account (external id)" in text
    job.refresh_from_db()
    assert job.status == "uploaded"


def test_failed_job_lists_rows_and_offers_the_errors_csv(
    admin_client: Client, admin: User, account: Account, logins: MetricDefinition
) -> None:
    job = upload(admin, "metrics_long", GOOD + "ACME-1,logins,=1+1,2026-01-03\n")
    admin_client.post(
        f"/imports/{job.pk}/",
        {
            "field__account": "account",
            "field__metric": "metric",
            "field__value": "value",
            "field__observed_at": "observed_at",
            "run": "1",
        },
    )
    run_import(job_id=job.pk)
    page = admin_client.get(f"/imports/{job.pk}/")
    assert "1 bad row in 3" in page.content.decode()
    assert page.context["job"].errors == [
        {"line": 4, "column": "value", "reason": "'=1+1' is not a number"}
    ]
    download = admin_client.get(f"/imports/{job.pk}/errors.csv")
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment")
    body = b"".join(download.streaming_content).decode()  # type: ignore[attr-defined]
    # A spreadsheet must not evaluate the cell: it starts with a quote, not "=".
    assert body.splitlines() == ["line,column,reason", "4,value,'=1+1' is not a number"]


def test_progress_fragment_polls_until_finished_then_reloads(
    admin_client: Client,
    admin: User,
    account: Account,
    logins: MetricDefinition,
    django_assert_max_num_queries: object,
) -> None:
    job = upload(admin, "metrics_long", GOOD)
    ImportJob.objects.filter(pk=job.pk).update(status="validating", rows_total=10, rows_validated=4)
    with django_assert_max_num_queries(4):  # type: ignore[operator]
        response = admin_client.get(f"/imports/{job.pk}/progress/", HTTP_HX_REQUEST="true")
    text = response.content.decode()
    assert 'hx-trigger="every 1s"' in text and 'value="20"' in text and "<html" not in text
    ImportJob.objects.filter(pk=job.pk).update(status="succeeded", rows_written=2)
    response = admin_client.get(f"/imports/{job.pk}/progress/", HTTP_HX_REQUEST="true")
    assert response["HX-Refresh"] == "true"
    # Without JavaScript the URL still leads somewhere useful.
    assert admin_client.get(f"/imports/{job.pk}/progress/")["Location"] == f"/imports/{job.pk}/"


def test_admin_token_page_creates_lists_and_revokes(
    admin_client: Client, csm: User, django_assert_max_num_queries: object
) -> None:
    response = admin_client.post(
        "/api-tokens/", {"user": "csm", "scope": "read", "name": "BI sync"}
    )
    assert response.status_code == 200
    key = response.context["new_key"]
    assert key.startswith("chs_") and key in response.content.decode()
    token = csm.api_tokens.get()
    with django_assert_max_num_queries(8):  # type: ignore[operator]
        page = admin_client.get("/api-tokens/")
    text = page.content.decode()
    assert key not in text and token.prefix in text and "never" in text
    assert f"<td>{csm.display_name}</td>" in text  # people by name, not username
    response = admin_client.post(f"/api-tokens/{token.pk}/revoke/", follow=True)
    assert f"of {csm.display_name} is revoked" in response.content.decode()
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_token_page_is_admin_only(csm_client: Client, manager_client: Client, admin: User) -> None:
    for c in (csm_client, manager_client):
        assert c.get("/api-tokens/").status_code == 404
        assert c.post("/api-tokens/", {"user": "admin", "scope": "write"}).status_code == 404


def test_a_file_larger_than_the_in_memory_limit_streams_from_disk(
    admin_client: Client, account: Account, logins: MetricDefinition, settings: object
) -> None:
    rows = "".join(
        f"ACME-1,logins,{i},2025-01-01T00:00:{i % 60:02d}+00:{i // 60 % 60:02d}\n"
        for i in range(3600)
    )
    body = ("account,metric,value,observed_at\n" + rows).encode()
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1024  # type: ignore[attr-defined]
    response = admin_client.post(
        "/imports/",
        {"kind": "metrics_long", "file": SimpleUploadedFile("big.csv", body, "text/csv")},
    )
    assert response.status_code == 302
    job = ImportJob.objects.get()
    assert job.header == ["account", "metric", "value", "observed_at"]
    admin_client.post(
        f"/imports/{job.pk}/",
        {
            "field__account": "account",
            "field__metric": "metric",
            "field__value": "value",
            "field__observed_at": "observed_at",
            "run": "1",
        },
    )
    finished = run_import(job_id=job.pk)
    assert finished is not None and finished.status == "succeeded", finished and finished.message
    assert MetricValue.objects.count() == 3600


def test_a_job_nobody_picked_up_can_be_sent_again(
    admin_client: Client, admin: User, account: Account, logins: MetricDefinition
) -> None:
    import datetime as dt

    from django.utils import timezone

    job = upload(admin, "metrics_long", GOOD)
    ImportJob.objects.filter(pk=job.pk).update(
        status="queued", created_at=timezone.now() - dt.timedelta(minutes=5)
    )
    page = admin_client.get(f"/imports/{job.pk}/")
    assert "Send it to the workers again" in page.content.decode()
    response = admin_client.post(f"/imports/{job.pk}/", {"requeue": "1"}, follow=True)
    assert "Sent to the workers again." in response.content.decode()
