"""``Account.open_task_count`` (the portfolio's "open tasks" column, sorted from an index)
follows every way a task opens or closes, in the same transaction, and bulk paths update it
with a fixed number of queries whatever the batch's size."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection
from django.db.models import Count, Q
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Account, User
from chs_site.errors import ApplicationError
from playbooks.models import PlaybookAction, Task, TaskStatus
from playbooks.services.firing import evaluate_score_changes
from playbooks.services.outreach import OutreachSpec, create_outreach
from playbooks.services.tasks import (
    cancel_task,
    complete_task,
    create_task,
    reassign_task,
    reopen_snoozed_tasks,
    snooze_task,
    transition_task,
    update_task,
)
from tests.factories import AccountFactory, PlaybookFactory, TaskFactory, change

pytestmark = pytest.mark.django_db

TOMORROW = timezone.localdate() + dt.timedelta(days=1)


def stored(account: Account) -> int:
    account.refresh_from_db(fields=["open_task_count"])
    return account.open_task_count


def assert_counts_match_the_tasks() -> None:
    """Every account's stored count equals a count of its open tasks."""
    truth = Account.objects.annotate(
        n=Count("tasks", filter=Q(tasks__status=TaskStatus.OPEN))
    ).values_list("pk", "n", "open_task_count")
    assert [(pk, n) for pk, n, _ in truth] == [(pk, stored) for pk, _, stored in truth]


def account_updates(captured: CaptureQueriesContext) -> list[str]:
    return [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].startswith('UPDATE "accounts_account"') and "open_task_count" in q["sql"]
    ]


def test_creating_a_task_by_hand_counts_it(csm: User, account: Account) -> None:
    create_task(actor=csm, account=account, title="Send QBR deck")
    create_task(actor=csm, account=account, title="Book the renewal call")
    assert stored(account) == 2
    assert_counts_match_the_tasks()


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("complete", 0),
        ("cancel", 0),
        ("snooze", 0),
        ("reassign", 1),
        ("edit", 1),
    ],
)
def test_closing_or_snoozing_a_task_uncounts_it_and_editing_does_not(
    manager: User, csm: User, teammate: User, account: Account, action: str, expected: int
) -> None:
    task = create_task(actor=csm, account=account, title="Call the champion")
    if action == "complete":
        complete_task(task=task, actor=csm, outcome_note="Renewal confirmed")
    elif action == "cancel":
        cancel_task(task=task, actor=csm, reason="Duplicate")
    elif action == "snooze":
        snooze_task(task=task, actor=csm, until=TOMORROW, reason="On holiday")
    elif action == "reassign":
        reassign_task(task=task, actor=manager, assignee=teammate)
    else:
        update_task(task=task, actor=csm, title="Call the new champion")
    assert stored(account) == expected
    assert_counts_match_the_tasks()


def test_reopening_a_snoozed_task_by_hand_counts_it_again(csm: User, account: Account) -> None:
    task = create_task(actor=csm, account=account, title="Follow up")
    snooze_task(task=task, actor=csm, until=TOMORROW, reason="Waiting on legal")
    assert stored(account) == 0
    transition_task(task=task, actor=csm, to_status=TaskStatus.OPEN)
    assert stored(account) == 1


def test_a_refused_transition_leaves_the_count_alone(csm: User, account: Account) -> None:
    task = create_task(actor=csm, account=account, title="Follow up")
    complete_task(task=task, actor=csm, outcome_note="Done")
    with pytest.raises(ApplicationError):
        transition_task(task=task, actor=csm, to_status=TaskStatus.OPEN)
    assert stored(account) == 0


def test_snoozed_tasks_waking_up_are_counted_with_one_update(csm: User) -> None:
    busy, quiet = AccountFactory.create_batch(2, owner=csm)
    for account, n in ((busy, 2), (quiet, 1)):
        for _ in range(n):
            TaskFactory.create(account=account, status="snoozed", snoozed_until=TOMORROW)
    assert (stored(busy), stored(quiet)) == (0, 0)
    with CaptureQueriesContext(connection) as captured:
        assert reopen_snoozed_tasks(today=TOMORROW) == 3
    assert (stored(busy), stored(quiet)) == (2, 1)
    # One UPDATE per distinct change (+2 and +1 here), not one per task or account.
    assert len(account_updates(captured)) == 2
    assert_counts_match_the_tasks()


@pytest.mark.parametrize("n_accounts", [3, 30])
def test_bulk_outreach_counts_each_accounts_task_in_one_update(
    manager: User, csm: User, teammate: User, n_accounts: int
) -> None:
    accounts = AccountFactory.create_batch(n_accounts, owner=csm, red=True)
    TaskFactory.create(account=accounts[0])  # an account that already has one
    with CaptureQueriesContext(connection) as captured:
        tasks = create_outreach(actor=manager, spec=OutreachSpec(title="Check in"))
    assert len(tasks) == n_accounts
    assert stored(accounts[0]) == 2
    assert all(stored(a) == 1 for a in accounts[1:])
    assert len(account_updates(captured)) == 1
    assert_counts_match_the_tasks()


def test_playbook_tasks_are_counted_in_one_update_per_firing(csm: User) -> None:
    playbook = PlaybookFactory.create()  # one task action: "call {account_name}"
    PlaybookAction.objects.create(
        playbook=playbook,
        kind=PlaybookAction.Kind.CREATE_TASK,
        title_template="Send the recovery plan to {account_name}",
        due_in_days=5,
    )
    accounts = AccountFactory.create_batch(4, owner=csm)
    with CaptureQueriesContext(connection) as captured:
        created = evaluate_score_changes(
            changes=[change(a, band="red", score=20, previous_band="yellow") for a in accounts]
        )
    assert created == 8
    assert [stored(a) for a in accounts] == [2, 2, 2, 2]
    assert len(account_updates(captured)) == 1
    # Firing again is blocked by the open tasks: nothing created, nothing counted twice.
    evaluate_score_changes(
        changes=[change(a, band="red", score=15, previous_band="yellow") for a in accounts]
    )
    assert [stored(a) for a in accounts] == [2, 2, 2, 2]
    assert_counts_match_the_tasks()


def test_the_task_api_keeps_the_count(csm: User, csm_client: Client, account: Account) -> None:
    response = csm_client.post(
        "/api/v1/tasks/",
        {"account": account.external_id, "title": "Send the deck"},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    assert stored(account) == 1
    response = csm_client.patch(
        f"/api/v1/tasks/{response.json()['id']}/",
        {"status": "done", "outcome_note": "Sent"},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert stored(account) == 0


def test_the_admin_site_keeps_the_count_when_it_deletes_tasks(
    admin: User, csm: User, account: Account
) -> None:
    keep, gone, closed = (create_task(actor=csm, account=account, title=t) for t in ("a", "b", "c"))
    complete_task(task=closed, actor=csm, outcome_note="Done")
    client = Client()
    client.force_login(admin)
    response = client.post(
        "/admin/playbooks/task/",
        {"action": "delete_selected", "_selected_action": [gone.pk, closed.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert list(Task.objects.filter(account=account)) == [keep]
    assert stored(account) == 1
    client.post(f"/admin/playbooks/task/{keep.pk}/delete/", {"post": "yes"})
    assert stored(account) == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_tasks_created_at_once_on_one_account_are_all_counted(csm: User, account: Account) -> None:
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def create(i: int) -> None:
        try:
            barrier.wait()
            create_task(actor=csm, account=account, title=f"Call {i}")
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=create, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert stored(account) == 4
