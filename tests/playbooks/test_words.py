"""Task titles, task history and outreach speak to people: rounded numbers, full names,
status labels."""

from __future__ import annotations

from django.test import Client

from accounts.models import Account, User
from playbooks.models import Task, render_template
from playbooks.selectors.tasks import task_history
from playbooks.services.tasks import reassign_task, transition_task
from tests.factories import TaskFactory


def test_a_title_built_from_a_float_shows_it_rounded() -> None:
    title = render_template(
        "Active users at {metric_value} (score {score})",
        {"metric_value": 5.142857142857143, "score": 38.0},
    )
    assert title == "Active users at 5.1 (score 38)"


def test_a_placeholder_with_its_own_format_keeps_it() -> None:
    assert render_template("{metric_value:.3f}", {"metric_value": 5.142857}) == "5.143"


def test_task_history_names_people_and_statuses_in_words(
    manager: User, csm: User, teammate: User, account: Account
) -> None:
    task = TaskFactory.create(account=account, assignee=csm)
    reassign_task(task=task, actor=manager, assignee=teammate)
    events = task_history(task)
    reassigned = [e for e in events if e.event.kind == "reassigned"][0]
    assert (reassigned.before, reassigned.after) == (
        csm.display_name,
        teammate.display_name,
    )
    assert csm.display_name != csm.username


def test_task_page_shows_full_names_not_usernames(
    manager_client: Client, manager: User, csm: User, teammate: User, account: Account
) -> None:
    task = TaskFactory.create(account=account, assignee=csm)
    reassign_task(task=task, actor=manager, assignee=teammate)
    html = manager_client.get(f"/tasks/{task.pk}/").content.decode()
    assert f"{csm.display_name} → {teammate.display_name}" in html
    assert "csm → teammate" not in html


def test_outreach_form_lists_people_by_full_name(
    manager_client: Client, csm: User, teammate: User
) -> None:
    html = manager_client.get("/tasks/outreach/").content.decode()
    assert teammate.display_name in html
    assert f">{teammate.username}<" not in html


def test_status_changes_read_as_labels(csm: User, account: Account) -> None:
    task: Task = TaskFactory.create(account=account, assignee=csm)
    transition_task(task=task, actor=csm, to_status="cancelled", reason="Duplicate")
    status = [e for e in task_history(task) if e.event.kind == "status"][0]
    assert (status.before, status.after) == ("Open", "Cancelled")
