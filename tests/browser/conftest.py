"""Browser tests: Debian's Chromium driven by Playwright against a live server.

Every test here is marked ``browser`` and ``django_db(transaction=True)`` (the live server
runs in another thread and must see committed rows)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, chromium_path, require

# What the browser tests leave for people to look at (git-ignored): a screenshot of each
# flow, and axe-core's full results for each page state it checked.
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
AXE_RESULTS = ROOT / "artifacts" / "axe"

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


def shot(page: object, name: str) -> Path:
    """A full-page screenshot of the flow's current state, as ``artifacts/screenshots/<name>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    return path


def assert_accessible(page: object) -> None:
    """axe-core (WCAG 2 A/AA rules) finds no violation on the page as it is now. The full
    results (passes, incomplete checks, violations) go to ``artifacts/axe/<page>.json``."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options={"runOnly": ["wcag2a", "wcag2aa", "wcag21aa"]})
    AXE_RESULTS.mkdir(parents=True, exist_ok=True)
    url = str(page.url).split("://", 1)[-1].split("/", 1)[-1]  # type: ignore[attr-defined]
    name = re.sub(r"[^A-Za-z0-9]+", "-", url).strip("-") or "home"
    (AXE_RESULTS / f"{name}.json").write_text(json.dumps(results.response, indent=1))
    assert results.violations_count == 0, results.generate_report()
