"""The Connectors page in a real Chromium on a 390 px phone, with a real Celery worker
syncing from a local HubSpot: Sync now → confirm → live progress → the finished run."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone
from pytest_httpserver import HTTPServer

from accounts.models import Account, User
from chs_site.benchmarks import CeleryProcess
from connectors.models import SyncRun
from tests.browser.conftest import assert_accessible, browser_login
from tests.connectors.conftest import HUBSPOT_TOKEN, make_connector
from tests.connectors.fakes import HubSpotFake

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_admin_syncs_hubspot_now_and_sees_the_run_finish(
    celery_worker_process: CeleryProcess, page: object, admin: User, httpserver: HTTPServer
) -> None:
    admin.set_password("chs-demo")
    admin.save(update_fields=["password"])
    fake = HubSpotFake(server=httpserver, token=HUBSPOT_TOKEN).install()
    for i in range(250):
        fake.add_company(
            str(7000 + i), timezone.now() - dt.timedelta(minutes=300 - i), name=f"Company {i}"
        )
    connector = make_connector(admin, "hubspot", fake.url, HUBSPOT_TOKEN)

    page.set_viewport_size({"width": 390, "height": 844})  # type: ignore[attr-defined]
    browser_login(page, "admin")
    page.wait_for_url(re.compile(r"/today/"))  # type: ignore[attr-defined]
    page.get_by_role("link", name="Connectors").click()  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(r"/connectors/$"))  # type: ignore[attr-defined]
    assert "•••• 6789" in page.locator(f"#connector-{connector.pk}").inner_text()  # type: ignore[attr-defined]
    assert HUBSPOT_TOKEN not in page.content()  # type: ignore[attr-defined]
    assert_accessible(page)

    page.get_by_role("link", name="Sync now").click()  # type: ignore[attr-defined]
    confirm = page.locator("#confirm-step")  # type: ignore[attr-defined]
    confirm.wait_for()
    assert "Sync hubspot test now?" in confirm.inner_text()
    assert not SyncRun.objects.exists()  # nothing before the confirmation
    confirm.get_by_role("button", name="Sync now").click()

    # The run row polls while it runs; the page reloads into the result when it ends.
    status = page.locator(f"#connector-{connector.pk} .tag.run-succeeded")  # type: ignore[attr-defined]
    status.wait_for(timeout=90_000)
    row = page.locator(f"#connector-{connector.pk} table.runs tbody tr").first  # type: ignore[attr-defined]
    assert "250" in row.inner_text()
    assert Account.objects.filter(external_id__startswith="hubspot-").count() == 250
    width = page.evaluate("document.documentElement.scrollWidth")  # type: ignore[attr-defined]
    assert width <= 390
    assert_accessible(page)

    page.get_by_role("link", name=re.compile(r"Sync #\d+")).click()  # type: ignore[attr-defined]
    page.locator("#run-counts").wait_for()  # type: ignore[attr-defined]
    assert_accessible(page)
