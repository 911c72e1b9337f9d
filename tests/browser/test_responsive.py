"""Phones and the dark scheme, in a real Chromium: every main page of each role at 390 px
wide scrolls only vertically (``scrollWidth`` ≤ 390), the nav shows every item, a row's
pop-over opens inside the screen, and the dark scheme (``prefers-color-scheme: dark``)
passes axe-core's WCAG AA rules, contrast included. Screenshots go to
``artifacts/screenshots/``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from accounts.models import Account, User
from playbooks.models import Playbook
from scoring.models import Scorecard
from tests.browser.conftest import assert_accessible, browser_login
from tests.browser.test_csp import book  # noqa: F401 - the fixture: a red and a green account

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
PHONE = {"width": 390, "height": 844}

# {scorecard} and {playbook} are filled in with the book's active scorecard and playbook.
PAGES = {
    "csm": ["/portfolio/", "/accounts/RED-1/", "/tasks/", "/scoring/", "/notifications/"],
    "manager": ["/team/", "/tasks/?scope=team", "/portfolio/", "/tasks/outreach/", "/playbooks/"],
    "admin": [
        "/scoring/",
        "/scoring/{scorecard}/",
        "/scoring/{scorecard}/edit/",
        "/scoring/validation/",
        "/playbooks/",
        "/playbooks/{playbook}/",
        "/playbooks/{playbook}/edit/",
        "/api-tokens/",
        "/imports/",
        "/audit-log/",
    ],
}

# What sticks out past the right edge, for the failure message.
WIDEST = """() => {
  const clipped = e => { for (let a = e.parentElement; a; a = a.parentElement) {
    if (['auto', 'scroll', 'hidden'].includes(getComputedStyle(a).overflowX)) return true; } return false; };
  return Array.from(document.querySelectorAll('body *'))
    .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
    .filter(e => !clipped(e))
    .slice(0, 5)
    .map(e => `${e.tagName.toLowerCase()}.${e.className}: ${Math.round(e.getBoundingClientRect().right)}`);
}"""


def _sign_in(page: Any, user: User) -> None:
    user.set_password("chs-demo")
    user.save(update_fields=["password"])
    browser_login(page, user.username)
    page.wait_for_url(re.compile(r"/today/"))


def _urls(role: str) -> list[str]:
    card = Scorecard.objects.filter(status=Scorecard.Status.ACTIVE).values_list("pk", flat=True)
    playbook = Playbook.objects.values_list("pk", flat=True).first()
    return [u.format(scorecard=card[0], playbook=playbook) for u in PAGES[role]]


def _phone_page(browser: Any, live_server: Any, **options: Any) -> Any:
    context = browser.new_context(base_url=live_server.url, viewport=PHONE, **options)
    context.set_default_timeout(15_000)
    return context.new_page()


@pytest.mark.parametrize("role", list(PAGES))
def test_every_main_page_fits_a_390px_phone(
    browser: Any,
    live_server: Any,
    role: str,
    request: pytest.FixtureRequest,
    book: Account,  # noqa: F811
) -> None:
    page = _phone_page(browser, live_server)
    _sign_in(page, request.getfixturevalue(role))
    too_wide = {}
    for url in _urls(role):
        response = page.goto(url)
        assert response is not None and response.status == 200, url
        page.wait_for_load_state("networkidle")
        width = page.evaluate("() => document.documentElement.scrollWidth")
        if width > PHONE["width"]:
            too_wide[url] = (width, page.evaluate(WIDEST))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"phone-390-{role}.png"), full_page=True)
    page.context.close()
    assert too_wide == {}


@pytest.mark.parametrize("width", [PHONE["width"], 1024, 1280])
def test_the_nav_shows_every_item_at_any_width(
    browser: Any,
    live_server: Any,
    admin: User,
    width: int,
    book: Account,  # noqa: F811
) -> None:
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": width, "height": 800}
    )
    page = context.new_page()
    _sign_in(page, admin)
    page.goto("/scoring/")
    links = page.locator(".mainnav a")
    assert links.count() >= 9  # an admin's full menu, Audit log last
    for i in range(links.count()):
        link = links.nth(i)
        box = link.bounding_box()
        assert box is not None and link.is_visible(), link.inner_text()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, link.inner_text()
        # Not scrolled out of the nav's own box either.
        assert link.evaluate(
            "a => { const n = a.closest('nav').getBoundingClientRect(),"
            " r = a.getBoundingClientRect(); return r.left >= n.left && r.right <= n.right + 0.5; }"
        ), link.inner_text()
    context.close()


def test_a_rows_snooze_form_opens_inside_a_phone_screen(
    browser: Any,
    live_server: Any,
    csm: User,
    book: Account,  # noqa: F811
) -> None:
    page = _phone_page(browser, live_server)
    _sign_in(page, csm)
    page.goto("/tasks/")
    page.get_by_text("Snooze", exact=True).first.click()
    form = page.locator("details[open] > form").first
    box = form.bounding_box()
    assert box is not None
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    assert box["y"] + box["height"] <= PHONE["height"]
    until = page.get_by_label("Snooze until").first
    assert until.is_visible()
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    page.context.close()


@pytest.mark.parametrize("role", list(PAGES))
def test_the_dark_scheme_passes_axe_contrast_included(
    browser: Any,
    live_server: Any,
    role: str,
    request: pytest.FixtureRequest,
    book: Account,  # noqa: F811
) -> None:
    context = browser.new_context(base_url=live_server.url, color_scheme="dark")
    context.set_default_timeout(15_000)
    page = context.new_page()
    _sign_in(page, request.getfixturevalue(role))
    background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(15, 23, 32)"  # the dark --bg: the scheme is on
    for url in _urls(role):
        page.goto(url)
        page.wait_for_load_state("networkidle")
        assert_accessible(page)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.goto(_urls(role)[0])
    page.screenshot(path=str(SCREENSHOTS / f"dark-{role}.png"), full_page=True)
    context.close()
