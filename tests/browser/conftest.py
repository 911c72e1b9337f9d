"""Browser tests: Debian's Chromium driven by Playwright against a live server.

Every test here is marked ``browser`` and ``django_db(transaction=True)`` (the live server
runs in another thread and must see committed rows)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.conftest import chromium_path, require

# --- a real browser ---------------------------------------------------------------------

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Debian's Chromium driven by Playwright (never ``playwright install``)."""
    executable = chromium_path()
    require(executable is not None, "this test needs Chromium (apt-get install chromium)")
    # Playwright's sync API keeps an event loop in this thread; the ORM calls the tests make
    # around it are still synchronous, so Django's async guard must stand aside.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: object, live_server: object) -> Iterator[object]:
    context = browser.new_context(base_url=live_server.url)  # type: ignore[attr-defined]
    context.set_default_timeout(15_000)
    pg = context.new_page()
    yield pg
    context.close()


def browser_login(page: object, username: str, password: str = "chs-demo") -> None:
    page.goto("/login/")  # type: ignore[attr-defined]
    page.get_by_label("Username").fill(username)  # type: ignore[attr-defined]
    page.get_by_label("Password").fill(password)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Log in").click()  # type: ignore[attr-defined]


def assert_accessible(page: object) -> None:
    """axe-core (WCAG 2 A/AA rules) finds no violation on the page as it is now."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options={"runOnly": ["wcag2a", "wcag2aa", "wcag21aa"]})
    assert results.violations_count == 0, results.generate_report()
