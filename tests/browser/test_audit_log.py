"""The Audit log through a real Chromium: an admin switches a playbook on, then finds the
entry on the Audit log page (accessible, and usable on a 390 px phone)."""

from __future__ import annotations

import re

import pytest

from accounts.models import User
from tests.browser.conftest import assert_accessible, browser_login
from tests.factories import PlaybookFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_admin_sees_the_change_they_just_made(page: object, admin: User) -> None:
    admin.set_password("chs-demo")
    admin.save(update_fields=["password"])
    playbook = PlaybookFactory.create(name="Red accounts", enabled=False)

    page.set_viewport_size({"width": 390, "height": 844})  # type: ignore[attr-defined]
    browser_login(page, "admin")
    page.wait_for_url(re.compile(r"/today/"))  # type: ignore[attr-defined]
    page.goto(f"/playbooks/{playbook.pk}/")  # type: ignore[attr-defined]
    page.get_by_role("button", name="Switch on").click()  # type: ignore[attr-defined]

    page.get_by_role("link", name="Audit log").click()  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(r"/audit-log/"))  # type: ignore[attr-defined]
    entry = page.locator("#audit-list li").first  # type: ignore[attr-defined]
    text = entry.inner_text()
    assert "Enabled" in text and "Red accounts" in text and "admin" in text
    assert "enabled" in text and "no → yes" in text
    # Nothing sticks out sideways on a phone.
    width = page.evaluate("document.documentElement.scrollWidth")  # type: ignore[attr-defined]
    assert width <= 390
    assert_accessible(page)

    # Filtering through HTMX keeps a real URL.
    page.get_by_label("Object type").select_option("api_token")  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(r"object_type=api_token"))  # type: ignore[attr-defined]
    assert "No entries match these filters" in page.locator("#audit-entries").inner_text()  # type: ignore[attr-defined]
