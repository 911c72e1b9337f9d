"""The CSM workspace through a real Chromium (Debian's, driven by Playwright).

1. A CSM filters the portfolio to red, opens an account, logs an NPS 3 answer and sees it on
   the timeline, the NPS measure and the score updated, without reloading the page (tasks
   eager in the live server's process; and once more with a real Celery worker, where the
   page polls until the recompute is done).
2. A manager bulk-assigns outreach to a CSM, who sees the task in the queue and completes it
   with a note that appears on the account's timeline.
3. A CSM opening another book's account URL gets 404.

Each test saves full-page screenshots to artifacts/screenshots/ (git-ignored).
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from accounts.models import Account, User
from playbooks.models import Task
from scoring.models import Scorecard
from scoring.services.recompute import recompute_dirty_accounts
from tests.browser.conftest import browser_login, shot
from tests.conftest import record
from tests.factories import AccountFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def with_password(user: User) -> User:
    user.set_password("chs-demo")
    user.save(update_fields=["password"])
    return user


@pytest.fixture
def red_account(csm: User, scorecard: Scorecard) -> Account:
    """A red account in csm's book (real scores: low NPS, CSAT and logins), next to a green
    one so the band filter has something to remove."""
    account = AccountFactory.create(owner=csm, name="Rusty Anchor", external_id="RED-1")
    green = AccountFactory.create(owner=csm, name="Sunny Meadow", external_id="GREEN-1")
    at = timezone.now() - dt.timedelta(days=2)
    for metric, bad, good in (("nps", 1, 10), ("csat", 1.5, 5), ("logins", 5, 50)):
        record(account, metric, bad, at)
        record(green, metric, good, at)
    recompute_dirty_accounts()
    account.refresh_from_db()
    assert account.health_band == "red"
    return account


def _filter_to_red_and_open(page: object, account: Account) -> None:
    page.wait_for_url(re.compile(r"/today/"))  # type: ignore[attr-defined]
    page.goto("/portfolio/")  # type: ignore[attr-defined]
    table = page.locator("#portfolio-table")  # type: ignore[attr-defined]
    assert "Sunny Meadow" in table.inner_text()
    page.get_by_label("Band").select_option("red")  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        "() => !document.querySelector('#portfolio-table').innerText.includes('Sunny Meadow')"
    )
    assert "band=red" in page.url  # type: ignore[attr-defined]
    assert account.name in table.inner_text()
    shot(page, "portfolio-filtered-red")
    # The filter lives in the URL: back shows the whole book again, forward the red view.
    page.go_back()  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        "() => document.querySelector('#portfolio-table').innerText.includes('Sunny Meadow')"
    )
    assert "band=red" not in page.url  # type: ignore[attr-defined]
    page.go_forward()  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        "() => !document.querySelector('#portfolio-table').innerText.includes('Sunny Meadow')"
    )
    assert "band=red" in page.url  # type: ignore[attr-defined]
    page.get_by_role("link", name=account.name).click()  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(rf"/accounts/{account.external_id}/$"))  # type: ignore[attr-defined]


def _log_nps_3(page: object) -> None:
    page.get_by_text("Log a call or feedback", exact=True).first.click()  # type: ignore[attr-defined]
    form = page.locator("#log-feedback")  # type: ignore[attr-defined]
    form.get_by_label("Kind").select_option("nps")
    form.get_by_label("Score").fill("3")
    form.get_by_label("Note").fill("Support answers are too slow")
    # A marker on window survives HTMX swaps but not a page load.
    page.evaluate("window.__noReload = true")  # type: ignore[attr-defined]
    form.get_by_role("button", name="Log it").click()


def _nps_row(page: object) -> object:
    return page.locator('#breakdown tr[data-metric="nps"]')  # type: ignore[attr-defined]


def test_csm_filters_to_red_opens_account_logs_nps_3_and_sees_the_score_update(
    page: object, csm: User, red_account: Account, other_account: Account
) -> None:
    with_password(csm)
    before = red_account.health_score
    browser_login(page, "csm")
    _filter_to_red_and_open(page, red_account)
    assert f"{before:.1f}" in page.locator("#health-score").inner_text()  # type: ignore[attr-defined]
    assert _nps_row(page).locator("td").first.inner_text() == "1"  # type: ignore[attr-defined]
    shot(page, "account-before-feedback")

    _log_nps_3(page)
    page.locator("#log-feedback .message-success").wait_for()  # type: ignore[attr-defined]
    assert "NPS answer (3) logged" in page.locator("#log-feedback").inner_text()  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        "() => document.querySelector('#breakdown tr[data-metric=\"nps\"] td').innerText === '3'"
    )
    red_account.refresh_from_db()
    assert red_account.health_score is not None and red_account.health_score > before  # type: ignore[operator]
    assert f"{red_account.health_score:.1f}" in page.locator("#health-score").inner_text()  # type: ignore[attr-defined]
    assert page.evaluate("window.__noReload") is True  # type: ignore[attr-defined]
    shot(page, "account-after-nps-3")

    # Bad input is explained next to the field, and nothing is logged.
    form = page.locator("#log-feedback")  # type: ignore[attr-defined]
    form.get_by_label("Kind").select_option("csat")
    form.get_by_label("Score").fill("9")
    form.get_by_role("button", name="Log it").click()
    page.get_by_text("CSAT is 1 to 5; 9 is outside that range.").wait_for()  # type: ignore[attr-defined]
    shot(page, "account-feedback-error")
    # The timeline tab, swapped in without a page load, has the answer.
    page.get_by_role("tab", name="Timeline").click()  # type: ignore[attr-defined]
    page.locator("#timeline").wait_for()  # type: ignore[attr-defined]
    timeline = page.locator("#timeline").inner_text()  # type: ignore[attr-defined]
    assert "Support answers are too slow" in timeline and "NPS" in timeline
    assert page.evaluate("window.__noReload") is True  # type: ignore[attr-defined]


@pytest.mark.worker
def test_with_a_real_worker_the_page_polls_until_the_recompute_is_done(
    celery_worker_process: object, page: object, csm: User, red_account: Account
) -> None:
    with_password(csm)
    before = red_account.health_score
    browser_login(page, "csm")
    _filter_to_red_and_open(page, red_account)
    _log_nps_3(page)
    page.locator("#log-feedback .message-success").wait_for()  # type: ignore[attr-defined]
    # The worker recomputes within seconds; the health region polls every 2 s meanwhile.
    page.wait_for_function(  # type: ignore[attr-defined]
        "() => document.querySelector('#breakdown tr[data-metric=\"nps\"] td').innerText === '3'",
        timeout=30_000,
    )
    assert page.locator("#health .pending").count() == 0  # type: ignore[attr-defined]
    red_account.refresh_from_db()
    assert red_account.health_score is not None and red_account.health_score > before  # type: ignore[operator]
    assert f"{red_account.health_score:.1f}" in page.locator("#health-score").inner_text()  # type: ignore[attr-defined]
    assert page.evaluate("window.__noReload") is True  # type: ignore[attr-defined]
    shot(page, "account-after-nps-3-real-worker")


def test_manager_bulk_assigns_outreach_and_the_csm_completes_it_with_a_note(
    page: object,
    browser: object,
    live_server: object,
    manager: User,
    csm: User,
    red_account: Account,
) -> None:
    with_password(manager)
    with_password(csm)
    browser_login(page, "manager")
    page.wait_for_url(re.compile(r"/today/"))  # type: ignore[attr-defined]
    page.goto("/tasks/outreach/")  # type: ignore[attr-defined]
    page.get_by_label("Band").select_option("red")  # type: ignore[attr-defined]
    page.get_by_label("Assign to").select_option(value=str(csm.pk))  # type: ignore[attr-defined]
    page.get_by_label("Title").fill("Rescue call with {account_name}")  # type: ignore[attr-defined]
    page.get_by_role("button", name="Preview").click()  # type: ignore[attr-defined]
    page.locator("#preview table").wait_for()  # type: ignore[attr-defined]
    assert "Rescue call with Rusty Anchor" in page.locator("#preview").inner_text()  # type: ignore[attr-defined]
    shot(page, "outreach-preview")
    page.get_by_role("button", name="Create tasks").click()  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(r"/tasks/"))  # type: ignore[attr-defined]
    task = Task.objects.get(account=red_account)
    assert task.assignee == csm and task.status == "open"

    # The CSM, in a browser of their own.
    context = browser.new_context(base_url=live_server.url)  # type: ignore[attr-defined]
    context.set_default_timeout(15_000)
    csm_page = context.new_page()
    try:
        browser_login(csm_page, "csm")
        csm_page.wait_for_url(re.compile(r"/today/"))
        csm_page.goto("/tasks/")
        row = csm_page.locator(f"#task-{task.pk}")
        assert "Rescue call with Rusty Anchor" in row.inner_text()
        shot(csm_page, "csm-task-queue")
        row.get_by_text("Complete", exact=True).click()
        row.get_by_label("Outcome note").fill("Agreed a recovery plan with the CFO")
        row.get_by_role("button", name="Mark done").click()
        csm_page.locator(f"#task-{task.pk} .row-flash").wait_for()
        task.refresh_from_db()
        assert task.status == "done"

        csm_page.goto(f"/accounts/{red_account.external_id}/?tab=timeline")
        timeline = csm_page.locator("#timeline").inner_text()
        assert "Agreed a recovery plan with the CFO" in timeline
        shot(csm_page, "account-timeline-after-task")
    finally:
        context.close()


def test_csm_opening_another_books_account_gets_404(
    page: object, csm: User, account: Account, other_account: Account
) -> None:
    with_password(csm)
    browser_login(page, "csm")
    page.wait_for_url(re.compile(r"/today/"))  # type: ignore[attr-defined]
    response = page.goto(f"/accounts/{other_account.external_id}/")  # type: ignore[attr-defined]
    assert response.status == 404
    assert "Other Inc" not in page.content()  # type: ignore[attr-defined]
    shot(page, "csm-other-book-404")
    assert page.goto("/team/").status == 404  # type: ignore[attr-defined]
