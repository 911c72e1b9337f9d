"""A forgotten password, through a real Chromium on a 390 px phone: the login page's link,
the email, the link in it, the new password, and signing in with it."""

from __future__ import annotations

import re

import pytest
from django.core import mail

from accounts.models import User
from tests.browser.conftest import assert_accessible, browser_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NEW_PASSWORD = "a brand-new passphrase"


def fits_the_phone(page: object) -> bool:
    width = page.evaluate("() => document.documentElement.scrollWidth")  # type: ignore[attr-defined]
    return bool(width <= 390)


def test_resetting_a_forgotten_password_on_a_phone(page: object, csm: User) -> None:
    page.set_viewport_size({"width": 390, "height": 844})  # type: ignore[attr-defined]
    page.goto("/login/")  # type: ignore[attr-defined]
    assert_accessible(page)
    page.get_by_role("link", name="Forgot your password?").click()  # type: ignore[attr-defined]
    assert fits_the_phone(page)
    assert_accessible(page)
    page.get_by_label("Email").fill(csm.email)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Send the link").click()  # type: ignore[attr-defined]
    page.get_by_role("heading", name="Check your email").wait_for()  # type: ignore[attr-defined]

    link = re.search(r"http://[^/\s]+(/password/reset/\S+/)", str(mail.outbox[0].body))
    assert link is not None
    page.goto(link.group(1))  # type: ignore[attr-defined]
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)  # type: ignore[attr-defined]
    page.get_by_label("New password confirmation").fill(NEW_PASSWORD)  # type: ignore[attr-defined]
    assert fits_the_phone(page)
    assert_accessible(page)
    page.get_by_role("button", name="Set password").click()  # type: ignore[attr-defined]
    page.get_by_role("heading", name="Password set").wait_for()  # type: ignore[attr-defined]

    browser_login(page, "csm", NEW_PASSWORD)
    page.wait_for_url(re.compile(r"/today/"))  # type: ignore[attr-defined]
