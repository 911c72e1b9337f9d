"""The import flow in a real Chromium, with a real Celery worker running the job:
upload → map a column → preview → run → live progress → result."""

from __future__ import annotations

import re

import pytest

from accounts.models import Account, ImportJob, User
from chs_site.benchmarks import CeleryProcess
from scoring.models import MetricDefinition, MetricValue
from tests.browser.conftest import browser_login

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ROWS = 40_000  # enough for the job to take a few seconds, so the progress bar is seen


def test_admin_uploads_maps_previews_and_runs_an_import(
    celery_worker_process: CeleryProcess, page: object, admin: User, account: Account
) -> None:
    admin.set_password("chs-demo")
    admin.save(update_fields=["password"])
    MetricDefinition.objects.create(key="logins", name="Logins")
    lines = ["Customer,Metric,Value,Day"] + [
        f"ACME-1,logins,{i},2025-01-01T{(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}Z"
        for i in range(ROWS)
    ]
    # Distinct timestamps per row: the day part advances every 86 400 rows, not needed here.
    body = ("\n".join(lines) + "\n").encode()

    browser_login(page, "admin")
    page.wait_for_url(re.compile(r"/today/"))  # type: ignore[attr-defined]
    page.get_by_role("link", name="Imports").click()  # type: ignore[attr-defined]
    page.get_by_label("What the file holds").select_option("metrics_long")  # type: ignore[attr-defined]
    page.get_by_label("CSV file", exact=True).set_input_files(  # type: ignore[attr-defined]
        files=[{"name": "usage.csv", "mimeType": "text/csv", "buffer": body}]
    )
    page.get_by_role("button", name="Upload and map columns").click()  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(r"/imports/\d+/$"))  # type: ignore[attr-defined]

    # "Customer" is not a name the importer knows: the mapping asks for it.
    assert "choose the column that holds account" in page.content()  # type: ignore[attr-defined]
    page.get_by_label("Account (external id) (required)").select_option("Customer")  # type: ignore[attr-defined]
    page.get_by_role("button", name="Save mapping and preview").click()  # type: ignore[attr-defined]
    preview = page.locator("#import-preview")  # type: ignore[attr-defined]
    preview.wait_for()
    assert preview.locator("tbody tr").count() == 10
    assert "OK" in preview.inner_text()

    page.get_by_role("button", name="Run import").click()  # type: ignore[attr-defined]
    page.locator("#import-progress").wait_for()  # type: ignore[attr-defined]
    assert page.locator("progress.import-bar").count() == 1  # type: ignore[attr-defined]
    # Still running when the page first shows (40 000 rows take seconds), so the result
    # seen below arrived through the HTMX polling.
    assert "Imported" not in page.locator(".import-status").inner_text()  # type: ignore[attr-defined]
    # The fragment polls; when the job ends the page reloads into the result.
    page.locator("#import-result").wait_for(timeout=90_000)  # type: ignore[attr-defined]
    assert f"Imported {ROWS:,} rows." in page.locator("#import-progress").inner_text()  # type: ignore[attr-defined]
    assert admin.display_name in page.locator("#import-result").inner_text()  # type: ignore[attr-defined]

    job = ImportJob.objects.get()
    try:
        assert job.status == "succeeded" and job.created_by == admin
        assert job.mapping["fields"]["account"] == "Customer"
        assert MetricValue.objects.count() == ROWS
        # The result stays reachable from the list later.
        page.goto("/imports/")  # type: ignore[attr-defined]
        page.get_by_role("link", name="usage.csv").click()  # type: ignore[attr-defined]
        page.locator("#import-result").wait_for()  # type: ignore[attr-defined]
    finally:
        job.file.delete(save=False)
