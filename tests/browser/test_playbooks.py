"""The task queue through a real Chromium: complete and snooze inline through HTMX."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from accounts.models import Account, Activity, User
from playbooks.models import Task
from tests.browser.conftest import browser_login
from tests.factories import TaskFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_csm_completes_and_snoozes_tasks_inline(page: object, csm: User, account: Account) -> None:
    csm.set_password("chs-demo")
    csm.save(update_fields=["password"])
    today = timezone.localdate()
    call = TaskFactory.create(
        account=account, assignee=csm, title="Call Acme", due_date=today - dt.timedelta(days=1)
    )
    deck = TaskFactory.create(account=account, assignee=csm, title="Send the deck", due_date=today)

    browser_login(page, "csm")
    page.wait_for_url(re.compile(r"/today/"))  # type: ignore[attr-defined]
    page.goto("/tasks/")  # type: ignore[attr-defined]
    overdue = page.locator("#group-overdue")  # type: ignore[attr-defined]
    assert "Call Acme" in overdue.inner_text()
    url_before = page.url  # type: ignore[attr-defined]

    # Complete inline: only the row is swapped, with a confirmation, no page load.
    row = page.locator(f"#task-{call.pk}")  # type: ignore[attr-defined]
    row.get_by_text("Complete", exact=True).click()
    row.get_by_label("Outcome note").fill("Spoke to the CFO; renewal on track")
    row.get_by_role("button", name="Mark done").click()
    page.locator(f"#task-{call.pk} .row-flash").wait_for()  # type: ignore[attr-defined]
    assert "on the account's timeline" in page.locator(f"#task-{call.pk}").inner_text()  # type: ignore[attr-defined]
    assert page.url == url_before  # type: ignore[attr-defined]
    call.refresh_from_db()
    assert call.status == "done"
    assert Activity.objects.filter(account=account, summary__contains="renewal on track").exists()

    # Snooze inline with a date and a reason.
    row = page.locator(f"#task-{deck.pk}")  # type: ignore[attr-defined]
    row.get_by_text("Snooze", exact=True).click()
    until = today + dt.timedelta(days=7)
    row.get_by_label("Snooze until").fill(until.isoformat())
    row.get_by_label("Reason").fill("Customer on holiday")
    row.get_by_role("button", name="Snooze task").click()
    page.locator(f"#task-{deck.pk} .row-flash").wait_for()  # type: ignore[attr-defined]
    assert "Snoozed" in page.locator(f"#task-{deck.pk}").inner_text()  # type: ignore[attr-defined]
    deck.refresh_from_db()
    assert deck.status == "snoozed" and deck.snoozed_until == until

    # After a reload the queue shows only what is still open.
    page.reload()  # type: ignore[attr-defined]
    assert "No tasks match" in page.locator("#queue").inner_text()  # type: ignore[attr-defined]
    assert Task.objects.filter(status="open").count() == 0
