"""A task that closed by itself, as its owner sees it: the account fell into red, the
playbook gave the CSM a task, the account recovered, and the task is gone from the queue,
marked "Closed by itself" with the reason on the task and the account's timeline."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from accounts.models import Account, User
from playbooks.models import Task, TaskStatus
from playbooks.services.firing import evaluate_score_changes, process_score_events
from scoring.models import ScoreEvent
from tests.browser.conftest import assert_accessible, browser_login, shot
from tests.browser.test_workspace import with_password
from tests.factories import PlaybookFactory, change, record_score

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_task_closes_by_itself_after_the_account_recovers(
    page: object, csm: User, account: Account
) -> None:
    with_password(csm)
    playbook = PlaybookFactory.create(name="Fell into red → call within 2 days")
    evaluate_score_changes(changes=[change(account, band="red", score=31, previous_band="yellow")])
    task = Task.objects.get(playbook=playbook)
    assert task.status == TaskStatus.OPEN

    # The account recovers: its change reaches the playbooks through the outbox.
    record_score(account, 56, "yellow", timezone.now())
    ScoreEvent.objects.create(
        kind=ScoreEvent.Kind.SCORE,
        account=account,
        previous_score=31,
        previous_band="red",
        score=56,
        band="yellow",
        created_at=timezone.now(),
    )
    process_score_events()
    task.refresh_from_db()
    assert task.status == TaskStatus.RESOLVED

    browser_login(page, "csm")
    page.wait_for_url(re.compile(r"/today/"))  # type: ignore[attr-defined]
    page.goto("/tasks/")  # type: ignore[attr-defined]
    assert task.title not in page.locator("main").inner_text()  # type: ignore[attr-defined]
    page.goto(f"/tasks/{task.pk}/")  # type: ignore[attr-defined]
    body = page.locator("main").inner_text()  # type: ignore[attr-defined]
    assert "Closed by itself" in body
    assert_accessible(page)
    shot(page, "task-closed-by-itself")
    page.goto(f"{account.get_absolute_url()}?tab=timeline")  # type: ignore[attr-defined]
    assert (
        "Closed by itself: Acme Corp is yellow again (56.0)"
        in page.locator(  # type: ignore[attr-defined]
            "main"
        ).inner_text()
    )
    shot(page, "task-closed-by-itself-timeline")
