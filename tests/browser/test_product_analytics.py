"""The Product analytics page through a real Chromium: an admin switches the Segment
endpoint on and picks an event to count, on a 390 px phone; accessible, nothing sideways."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from accounts.models import User
from scoring.models import SegmentEventName, SegmentSettings
from tests.browser.conftest import assert_accessible, browser_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_admin_switches_segment_on_and_selects_an_event_on_a_phone(
    page: object, admin: User
) -> None:
    admin.set_password("chs-demo")
    admin.save(update_fields=["password"])
    SegmentEventName.objects.create(name="Report Exported", last_seen_at=timezone.now())

    page.set_viewport_size({"width": 390, "height": 844})  # type: ignore[attr-defined]
    browser_login(page, "admin")
    page.wait_for_url(re.compile(r"/today/"))  # type: ignore[attr-defined]
    page.goto("/scoring/product-analytics/")  # type: ignore[attr-defined]
    assert_accessible(page)
    width = page.evaluate("document.documentElement.scrollWidth")  # type: ignore[attr-defined]
    assert width <= 390

    page.get_by_label("Accept Segment messages").check()  # type: ignore[attr-defined]
    page.get_by_label("Report Exported").check()  # type: ignore[attr-defined]
    page.get_by_role("button", name="Save settings").click()  # type: ignore[attr-defined]
    page.wait_for_load_state("networkidle")  # type: ignore[attr-defined]
    assert "settings saved" in page.content()  # type: ignore[attr-defined]
    assert "segment_event_report_exported" in page.content()  # type: ignore[attr-defined]
    config = SegmentSettings.objects.get()
    assert config.enabled and config.tracked_events == ["Report Exported"]
    assert_accessible(page)
