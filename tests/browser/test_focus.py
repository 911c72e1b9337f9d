"""Focus after htmx swaps (static/js/focus_after_swap.js), in a real Chromium: an action
on a list row leaves focus on that row, a refused action on its error, and typing in a
field that refreshes a preview keeps the focus in the field."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import Account, User
from playbooks.models import Playbook, Task
from tests.browser.conftest import browser_login
from tests.browser.test_csp import book  # noqa: F401 - the fixture: a red and a green account

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ACTIVE = """() => { const e = document.activeElement;
  return {id: e.id, tag: e.tagName, role: e.getAttribute('role'), text: e.innerText}; }"""


def _sign_in(page: Any, user: User) -> None:
    user.set_password("chs-demo")
    user.save(update_fields=["password"])
    browser_login(page, user.username)
    page.wait_for_url(re.compile(r"/today/"))


def _snooze(page: Any, row: Any, until: dt.date) -> None:
    row.get_by_text("Snooze", exact=True).click()
    row.get_by_label("Snooze until").fill(until.isoformat())
    row.get_by_label("Reason").fill("Customer on holiday")
    row.get_by_role("button", name="Snooze task").click()


def test_a_row_action_keeps_focus_on_its_row_and_a_refusal_on_its_error(
    page: Any,
    csm: User,
    book: Account,  # noqa: F811
) -> None:
    task = Task.objects.get(title="Call Rusty Anchor")
    _sign_in(page, csm)
    page.goto("/tasks/")
    row = page.locator(f"#task-{task.pk}")
    _snooze(page, row, timezone.localdate() - dt.timedelta(days=2))
    page.wait_for_selector(f"#task-{task.pk} .row-flash-error")
    # Focus moves once htmx has settled the new row.
    page.wait_for_function("() => document.activeElement.getAttribute('role') === 'alert'")
    assert page.evaluate(ACTIVE)["text"]

    row = page.locator(f"#task-{task.pk}")
    _snooze(page, row, timezone.localdate() + dt.timedelta(days=5))
    page.wait_for_selector(f"#task-{task.pk} .row-flash:not(.row-flash-error)")
    page.wait_for_function(f"() => document.activeElement.id === 'task-{task.pk}'")
    task.refresh_from_db()
    assert task.status == "snoozed"


def test_typing_a_template_refreshes_the_preview_and_keeps_focus_in_the_field(
    page: Any,
    admin: User,
    book: Account,  # noqa: F811
) -> None:
    playbook = Playbook.objects.get(name="Falling into red")
    _sign_in(page, admin)
    page.goto(f"/playbooks/{playbook.pk}/edit/")
    title = page.get_by_label("Task or message title").first
    title.fill("")
    title.type("Ring {account_name} about {band}", delay=5)
    page.wait_for_function(
        "() => document.querySelector('#action-preview').innerText.includes('Ring Rusty Anchor about red')"
    )
    assert page.evaluate(ACTIVE)["id"] == "id_actions-0-title_template"
    title.type(" {oops}")
    page.wait_for_function(
        "() => document.querySelector('#action-preview').innerText.includes('Unknown placeholder')"
    )
    assert page.evaluate(ACTIVE)["id"] == "id_actions-0-title_template"


def test_changing_the_trigger_swaps_its_fields_and_keeps_focus_on_the_select(
    page: Any,
    admin: User,
    book: Account,  # noqa: F811
) -> None:
    _sign_in(page, admin)
    page.goto("/playbooks/new/")
    assert page.get_by_label("Band entered").is_visible()
    page.get_by_label("Trigger").focus()  # as a person who picks from it
    page.get_by_label("Trigger").select_option("score_drop")
    page.wait_for_selector("#id_drop_points")
    assert page.locator("#id_band").count() == 0
    assert page.evaluate(ACTIVE)["id"] == "id_trigger_type"
