"""*Team tasks* through a real Chromium: a manager reassigns a task through the row's popover
while the filter form keeps refreshing on its own controls, and the page holds at 390 px.

Screenshots go to artifacts/screenshots/ (git-ignored)."""

from __future__ import annotations

import re

import pytest

from accounts.models import Account, User
from playbooks.models import Task
from tests.browser.conftest import assert_accessible, browser_login, shot
from tests.browser.test_workspace import with_password
from tests.factories import TaskFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_manager_reassigns_a_task_from_team_tasks(
    page: object, manager: User, csm: User, teammate: User, account: Account
) -> None:
    with_password(manager)
    task = TaskFactory.create(account=account, assignee=csm, title="Call Acme about renewal")
    browser_login(page, "manager")
    page.wait_for_url(re.compile(r"/today/"))  # type: ignore[attr-defined]
    page.goto("/tasks/")  # type: ignore[attr-defined]
    assert page.locator("h1").inner_text() == "Team tasks"  # type: ignore[attr-defined]
    row = page.locator(f"#task-{task.pk}")  # type: ignore[attr-defined]
    assert csm.display_name in row.inner_text()

    # Choosing a person in the row's select must not refresh the queue under the popover.
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))  # type: ignore[attr-defined]
    row.locator("summary", has_text="Reassign").click()
    row.get_by_label("Assign to").select_option(label=teammate.display_name)
    page.wait_for_timeout(400)  # type: ignore[attr-defined]
    assert not [u for u in requests if "/tasks/?" in u or u.endswith("/tasks/")]
    popover = row.locator("details.inline-action", has_text="Assign to")
    assert popover.get_attribute("open") is not None
    shot(page, "team_tasks_reassign_popover")

    row.get_by_role("button", name="Reassign", exact=True).click()
    page.locator(f"#task-{task.pk} .row-flash").wait_for()  # type: ignore[attr-defined]
    row = page.locator(f"#task-{task.pk}")  # type: ignore[attr-defined]
    assert "Task reassigned." in row.inner_text()
    assert teammate.display_name in row.inner_text()
    assert Task.objects.get(pk=task.pk).assignee == teammate
    shot(page, "team_tasks_reassigned")

    # After a reload the row and the load table agree with the database.
    page.reload()  # type: ignore[attr-defined]
    assert teammate.display_name in page.locator(f"#task-{task.pk}").inner_text()  # type: ignore[attr-defined]
    load = page.locator("#team-load")  # type: ignore[attr-defined]
    teammate_row = load.locator("tr", has_text=teammate.display_name)
    csm_row = load.locator("tr", has_text=csm.display_name)
    assert teammate_row.locator("td").nth(1).inner_text() == "1"
    assert csm_row.locator("td").nth(1).inner_text() == "0"

    # The filter form still refreshes the queue on its own selects.
    with page.expect_response(  # type: ignore[attr-defined]
        lambda r: "/tasks/?" in r.url and "status=done" in r.url
    ):
        page.locator("#filters").get_by_label("Status").select_option("done")  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(r"status=done"))  # type: ignore[attr-defined]
    assert "No tasks match" in page.locator("#queue").inner_text()  # type: ignore[attr-defined]
    assert_accessible(page)


def test_team_tasks_fits_a_phone_without_sideways_scroll(
    page: object, manager: User, csm: User, teammate: User, account: Account
) -> None:
    with_password(manager)
    TaskFactory.create(
        account=account,
        assignee=csm,
        title="Prepare the quarterly business review with the new champion",
    )
    page.set_viewport_size({"width": 390, "height": 844})  # type: ignore[attr-defined]
    browser_login(page, "manager")
    page.wait_for_url(re.compile(r"/today/"))  # type: ignore[attr-defined]
    page.goto("/tasks/")  # type: ignore[attr-defined]
    shot(page, "team_tasks_390")
    width = page.evaluate("document.documentElement.scrollWidth")  # type: ignore[attr-defined]
    assert width <= 390
    assert_accessible(page)
