"""The Content-Security-Policy through a real Chromium: every main page of each role loads,
and the htmx interactions run, without one violation (charts, htmx and Swagger UI
included). Violations are collected from the ``securitypolicyviolation`` events of every
document the browser opens (reported to Python, so navigations lose none) and from console
errors that name the policy; a planted inline style proves the collector hears them."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pytest
from django.utils import timezone

from accounts.models import Account, User
from playbooks.models import Task
from scoring.models import Scorecard
from scoring.services.recompute import recompute_dirty_accounts
from tests.browser.conftest import browser_login
from tests.conftest import record
from tests.factories import AccountFactory, PlaybookFactory, TaskFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

REPORT_VIOLATIONS = """
document.addEventListener('securitypolicyviolation', (e) => window.__cspViolation(
  `${e.violatedDirective} blocked ${e.blockedURI || 'inline'} in ${e.documentURI}` +
  (e.sourceFile ? ` (${e.sourceFile}:${e.lineNumber})` : '')
));
"""


class Violations:
    """What the policy blocked in one browser context, in order."""

    def __init__(self, context: object) -> None:
        self.seen: list[str] = []
        context.expose_function("__cspViolation", self._report)  # type: ignore[attr-defined]
        context.add_init_script(REPORT_VIOLATIONS)  # type: ignore[attr-defined]
        context.on("console", self._console)  # type: ignore[attr-defined]

    def _report(self, violation: str) -> None:
        self.seen.append(violation)

    def _console(self, message: object) -> None:
        text = message.text  # type: ignore[attr-defined]
        if message.type == "error" and "Content Security Policy" in text:  # type: ignore[attr-defined]
            self.seen.append(f"console: {text}")

    def settle(self, page: object) -> list[str]:
        """Everything reported once the page is idle (events are dispatched after the
        blocked load or apply)."""
        page.wait_for_load_state("networkidle")  # type: ignore[attr-defined]
        page.wait_for_timeout(100)  # type: ignore[attr-defined]
        return self.seen


@pytest.fixture
def watched(page: object) -> Violations:
    return Violations(page.context)  # type: ignore[attr-defined]


@pytest.fixture
def book(csm: User, scorecard: Scorecard) -> Iterator[Account]:
    """A red and a green account in csm's book with real scores (the account page draws
    its trend and metric charts), an open task on the red one, and a playbook."""
    red = AccountFactory.create(owner=csm, name="Rusty Anchor", external_id="RED-1")
    green = AccountFactory.create(owner=csm, name="Sunny Meadow", external_id="GREEN-1")
    for days_ago in (20, 2):
        at = timezone.now() - dt.timedelta(days=days_ago)
        for metric, bad, good in (("nps", 1, 10), ("csat", 1.5, 5), ("logins", 5, 50)):
            record(red, metric, bad + days_ago / 10, at)
            record(green, metric, good, at)
        recompute_dirty_accounts()
    TaskFactory.create(account=red, title="Call Rusty Anchor")
    PlaybookFactory.create(name="Falling into red")
    yield red


def _visit(page: object, watched: Violations, url: str) -> None:
    response = page.goto(url)  # type: ignore[attr-defined]
    assert response is not None
    policy = response.headers.get("content-security-policy", "")
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy, url
    assert watched.settle(page) == [], url


def test_csm_pages_and_htmx_actions_run_without_a_csp_violation(
    page: object, watched: Violations, csm: User, book: Account
) -> None:
    csm.set_password("chs-demo")
    csm.save(update_fields=["password"])
    _visit(page, watched, "/login/")
    browser_login(page, "csm")
    page.wait_for_url(re.compile(r"/today/"))  # type: ignore[attr-defined]
    assert watched.settle(page) == []
    _visit(page, watched, "/portfolio/")

    # htmx: the band filter swaps the table in place.
    page.get_by_label("Band").select_option("red")  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        "() => !document.querySelector('#portfolio-table').innerText.includes('Sunny Meadow')"
    )
    assert "band=red" in page.url  # type: ignore[attr-defined]
    assert watched.settle(page) == []

    # The account page: trend and metric charts; its tabs swapped by htmx, the success
    # plan loaded by htmx inside its tab.
    _visit(page, watched, f"/accounts/{book.external_id}/")
    assert page.locator("svg.chart-svg").count() >= 2  # type: ignore[attr-defined]
    page.get_by_role("tab", name=re.compile("^Success plans")).click()  # type: ignore[attr-defined]
    page.locator("#success-plan h2").wait_for()  # type: ignore[attr-defined]
    page.get_by_role("tab", name="Timeline").click()  # type: ignore[attr-defined]
    page.locator("#timeline").wait_for()  # type: ignore[attr-defined]
    assert watched.settle(page) == []

    # htmx: completing a task swaps its row.
    _visit(page, watched, "/tasks/")
    task = Task.objects.get(account=book)
    row = page.locator(f"#task-{task.pk}")  # type: ignore[attr-defined]
    row.get_by_text("Complete", exact=True).click()
    row.get_by_label("Outcome note").fill("Agreed a recovery plan")
    row.get_by_role("button", name="Mark done").click()
    page.locator(f"#task-{task.pk} .row-flash").wait_for()  # type: ignore[attr-defined]
    task.refresh_from_db()
    assert task.status == "done"
    assert watched.settle(page) == []

    _visit(page, watched, "/playbooks/")
    response = page.goto("/no-such-page/")  # type: ignore[attr-defined]
    assert response.status == 404
    assert "content-security-policy" in response.headers
    assert watched.settle(page) == []

    # The collector is not deaf: an inline style the policy forbids is reported.
    page.evaluate("document.body.insertAdjacentHTML('beforeend', '<p style=\"color:red\">x</p>')")  # type: ignore[attr-defined]
    page.wait_for_timeout(200)  # type: ignore[attr-defined]
    assert any(v.startswith("style-src-attr blocked inline") for v in watched.seen), watched.seen


def test_manager_and_admin_pages_and_the_api_docs_run_without_a_csp_violation(
    page: object,
    browser: object,
    live_server: object,
    watched: Violations,
    manager: User,
    admin: User,
    book: Account,
    scorecard: Scorecard,
) -> None:
    for user in (manager, admin):
        user.set_password("chs-demo")
        user.save(update_fields=["password"])
    browser_login(page, "manager")
    page.wait_for_url(re.compile(r"/today/"))  # type: ignore[attr-defined]
    _visit(page, watched, "/team/")
    # Band distribution and at-risk ARR by pygal, the average score as geometry.
    assert page.locator(".chart svg.pygal-chart").count() == 2  # type: ignore[attr-defined]
    assert page.locator(".chart svg.chart-svg").count() == 1  # type: ignore[attr-defined]
    page.context.clear_cookies()  # type: ignore[attr-defined]

    browser_login(page, "admin")
    page.wait_for_url(re.compile(r"/today/"))  # type: ignore[attr-defined]
    for url in (
        "/scoring/",
        f"/scoring/{scorecard.pk}/",
        "/scoring/validation/",
        "/playbooks/",
        "/imports/",
        "/api-tokens/",
        "/connectors/",
        "/connectors/new/hubspot/",
    ):
        _visit(page, watched, url)

    # The draft editor: its preview (inline charts) is swapped in by htmx on every edit.
    page.goto(f"/scoring/{scorecard.pk}/")  # type: ignore[attr-defined]
    page.get_by_role("button", name="Edit (new draft)").click()  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(r"/scoring/\d+/edit/"))  # type: ignore[attr-defined]
    charts = page.locator("#draft-preview svg.pygal-chart")  # type: ignore[attr-defined]
    assert charts.count() == 2
    first_chart = charts.first.get_attribute("id")
    page.get_by_label("Measure 1 weight").fill("7")  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        "(id) => { const c = document.querySelector('#draft-preview svg.pygal-chart');"
        " return c && c.id !== id; }",
        arg=first_chart,
    )
    assert watched.settle(page) == []

    # Swagger UI: its script comes from a URL, its icons from data: URIs (allowed there only).
    _visit(page, watched, "/api/docs/")
    page.locator(".swagger-ui .info .title").wait_for()  # type: ignore[attr-defined]
    page.locator(".opblock-summary").first.click()  # type: ignore[attr-defined]
    page.get_by_role("button", name="Try it out").first.click()  # type: ignore[attr-defined]
    assert watched.settle(page) == []
