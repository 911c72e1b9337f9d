"""The account page through a real Chromium: tabs (click and arrow keys), a call logged
with an NPS answer that moves the score in the head and lands on the timeline, contacts
added and edited, axe-clean and without sideways scrolling at 390 px."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from accounts.models import Account, Contact, User
from scoring.models import Scorecard
from scoring.services.recompute import recompute_dirty_accounts, recompute_scores
from tests.browser.conftest import assert_accessible, browser_login, shot
from tests.conftest import record

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _no_sideways_scroll(page: object) -> bool:
    width = page.evaluate("() => document.documentElement.scrollWidth")  # type: ignore[attr-defined]
    return bool(width <= 390)


def test_csm_works_an_account_through_tabs_dialogs_and_contacts(
    page: object, csm: User, account: Account, scorecard: Scorecard
) -> None:
    csm.set_password("chs-demo")
    csm.save(update_fields=["password"])
    now = timezone.now()
    for days_ago, nps, logins in ((40, 9, 45), (3, 8, 40)):
        at = now - dt.timedelta(days=days_ago)
        record(account, "nps", nps, at)
        record(account, "csat", 4, at)
        record(account, "logins", logins, at)
        recompute_scores(account_ids=[account.pk], at=at + dt.timedelta(minutes=1))
    recompute_dirty_accounts()
    account.refresh_from_db()
    before = f"{account.health_score:.1f}"

    browser_login(page, "csm")
    page.wait_for_url(re.compile(r"/today/"))  # type: ignore[attr-defined]
    page.goto(f"/accounts/{account.external_id}/")  # type: ignore[attr-defined]
    head_score = page.locator("#head-score .kpi")  # type: ignore[attr-defined]
    assert head_score.inner_text() == before
    assert_accessible(page)
    shot(page, "account-overview")

    # Tabs: a click swaps the panel and the URL; arrow keys move to the next tab.
    page.get_by_role("tab", name="Timeline").click()  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(r"\?tab=timeline"))  # type: ignore[attr-defined]
    page.locator("#timeline").wait_for()  # type: ignore[attr-defined]
    assert page.get_by_role("tab", name="Timeline").get_attribute("aria-selected") == "true"  # type: ignore[attr-defined]
    page.get_by_role("tab", name="Timeline").focus()  # type: ignore[attr-defined]
    page.keyboard.press("ArrowRight")  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(r"\?tab=tasks"))  # type: ignore[attr-defined]
    page.locator("#account-tasks").wait_for()  # type: ignore[attr-defined]
    tasks_tab = page.get_by_role("tab", name=re.compile("^Tasks"))  # type: ignore[attr-defined]
    assert tasks_tab.get_attribute("aria-selected") == "true"

    # A call with an NPS answer: one entry; the score in the head drops without a reload.
    page.get_by_text("Log a call or feedback", exact=True).first.click()  # type: ignore[attr-defined]
    form = page.locator("#log-feedback")  # type: ignore[attr-defined]
    form.get_by_label("Kind").select_option("call")
    form.get_by_label("Survey answer in the call").select_option("nps")
    form.get_by_label("Score").fill("1")
    form.get_by_label("Note").fill("Angry about the outage")
    form.get_by_role("button", name="Log it").click()
    message = page.locator("#log-feedback [role=status]")  # type: ignore[attr-defined]
    message.wait_for()
    assert "Call (NPS 1) logged" in message.inner_text()
    assert page.evaluate("() => document.activeElement.getAttribute('role')") == "status"  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        "(before) => document.querySelector('#head-score .kpi').innerText !== before", arg=before
    )
    assert float(head_score.inner_text()) < float(before)
    page.get_by_role("tab", name="Timeline").click()  # type: ignore[attr-defined]
    page.locator("#timeline").get_by_text(re.compile("Call logged with NPS 1")).wait_for()  # type: ignore[attr-defined]
    shot(page, "account-timeline")

    # Contacts: add one, then edit it; the tab's count follows.
    page.get_by_role("tab", name=re.compile("^Contacts")).click()  # type: ignore[attr-defined]
    page.locator("#contacts").wait_for()  # type: ignore[attr-defined]
    page.get_by_text("Add a contact", exact=True).click()  # type: ignore[attr-defined]
    contacts = page.locator("#contacts")  # type: ignore[attr-defined]
    contacts.get_by_label("Name").fill("Rosa Diaz")
    contacts.get_by_label("Role").fill("VP Operations")
    contacts.get_by_label("Email").fill("rosa@acme.test")
    contacts.get_by_label("Champion").check()
    contacts.get_by_role("button", name="Add contact").click()
    page.locator("#contacts [role=status]").get_by_text("Rosa Diaz added").wait_for()  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        "() => document.querySelector('#count-contacts').innerText === '1'"
    )
    page.get_by_text("Edit Rosa Diaz").click()  # type: ignore[attr-defined]
    item = page.locator(".contact").first  # type: ignore[attr-defined]
    item.get_by_label("Role").fill("COO")
    item.get_by_label("Decision-maker").check()
    item.get_by_role("button", name="Save contact").click()
    page.locator("#contacts [role=status]").get_by_text("Rosa Diaz saved").wait_for()  # type: ignore[attr-defined]
    contact = Contact.objects.get()
    assert (contact.title, contact.is_champion, contact.is_decision_maker) == ("COO", True, True)
    assert_accessible(page)
    shot(page, "account-contacts")

    # A phone: no sideways scrolling on any tab.
    page.set_viewport_size({"width": 390, "height": 844})  # type: ignore[attr-defined]
    for tab in ("overview", "timeline", "tasks", "plans", "contacts"):
        page.goto(f"/accounts/{account.external_id}/?tab={tab}")  # type: ignore[attr-defined]
        assert _no_sideways_scroll(page), tab
    page.goto(f"/accounts/{account.external_id}/")  # type: ignore[attr-defined]
    assert_accessible(page)
    shot(page, "account-phone")
