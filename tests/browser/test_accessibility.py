"""axe-core (WCAG 2.1 A and AA rules) through a real Chromium on the main pages of each
role, with real data on them (scores, bands, charts, tasks): no violation of any impact."""

from __future__ import annotations

import re

import pytest

from accounts.models import Account, User
from tests.browser.conftest import assert_accessible, browser_login
from tests.browser.test_csp import book  # noqa: F401 - the fixture: a red and a green account

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAGES = {
    "csm": ["/today/", "/portfolio/", "/portfolio/?band=red", "/accounts/RED-1/", "/tasks/"],
    "manager": ["/today/", "/team/", "/tasks/", "/portfolio/"],
    "admin": [
        "/scoring/",
        "/playbooks/",
        "/playbooks/new/",
        "/audit-log/",
        "/imports/",
        "/api-tokens/",
        "/slack/",
        "/connectors/",
        "/connectors/new/hubspot/",
    ],
}


@pytest.mark.parametrize("role", list(PAGES))
def test_the_main_pages_have_no_accessibility_violation(
    page: object,
    role: str,
    request: pytest.FixtureRequest,
    book: Account,  # noqa: F811
) -> None:
    user: User = request.getfixturevalue(role)
    user.set_password("chs-demo")
    user.save(update_fields=["password"])
    browser_login(page, role)
    page.wait_for_url(re.compile(r"/today/"))  # type: ignore[attr-defined]
    for url in PAGES[role]:
        response = page.goto(url)  # type: ignore[attr-defined]
        assert response is not None and response.status == 200, url
        page.wait_for_load_state("networkidle")  # type: ignore[attr-defined]
        assert_accessible(page)
