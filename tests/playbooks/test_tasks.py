"""The task lifecycle: transitions table, snooze and reopen, completion on the timeline,
reassignment, bulk outreach, and the concurrency guarantee on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection
from django.utils import timezone

from accounts.models import Account, Activity, User
from chs_site.errors import ApplicationError, ValidationFailed
from playbooks.models import PlaybookRun, Task, TaskEvent, TaskStatus
from playbooks.services.firing import evaluate_score_changes
from playbooks.services.outreach import OutreachSpec, create_outreach, plan_outreach
from playbooks.services.tasks import (
    ALLOWED_TRANSITIONS,
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


@pytest.mark.parametrize(
    ("start", "to", "allowed"),
    [
        ("open", "done", True),
        ("open", "snoozed", True),
        ("open", "cancelled", True),
        ("open", "open", False),
        ("snoozed", "open", True),
        ("snoozed", "done", True),
        ("snoozed", "cancelled", True),
        ("done", "open", False),
        ("done", "snoozed", False),
        ("done", "cancelled", False),
        ("cancelled", "open", False),
        ("cancelled", "done", False),
    ],
)
def test_allowed_and_forbidden_transitions(
    csm: User, account: Account, start: str, to: str, allowed: bool
) -> None:
    task = TaskFactory.create(
        account=account, status=start, snoozed_until=TOMORROW if start == "snoozed" else None
    )
    assert (to in ALLOWED_TRANSITIONS[start]) is allowed
    kwargs = {
        "outcome_note": "Talked to the CFO",
        "snoozed_until": TOMORROW,
        "reason": "Waiting on them",
    }
    if allowed:
        transition_task(task=task, actor=csm, to_status=to, **kwargs)  # type: ignore[arg-type]
        task.refresh_from_db()
        assert task.status == to
        assert TaskEvent.objects.filter(
            task=task, kind="status", from_value=start, to_value=to
        ).exists()
    else:
        with pytest.raises(ApplicationError, match="cannot become"):
            transition_task(task=task, actor=csm, to_status=to, **kwargs)  # type: ignore[arg-type]
        task.refresh_from_db()
        assert task.status == start


def test_completing_needs_an_outcome_note_which_lands_on_the_timeline(
    csm: User, account: Account
) -> None:
    task = TaskFactory.create(account=account, title="Call Acme")
    with pytest.raises(ValidationFailed) as err:
        complete_task(task=task, actor=csm, outcome_note="  ")
    assert err.value.errors[0]["field"] == "outcome_note"
    complete_task(task=task, actor=csm, outcome_note="Renewal confirmed verbally")
    activity = Activity.objects.get(account=account, kind=Activity.Kind.TASK_COMPLETED)
    assert activity.summary == "Task done: Call Acme: Renewal confirmed verbally"
    assert activity.actor == csm
    task.refresh_from_db()
    assert task.closed_at is not None and task.outcome_note == "Renewal confirmed verbally"


def test_snooze_needs_a_future_date_and_a_reason(csm: User, account: Account) -> None:
    task = TaskFactory.create(account=account)
    with pytest.raises(ValidationFailed) as err:
        snooze_task(task=task, actor=csm, until=timezone.localdate(), reason="")
    assert {e["field"] for e in err.value.errors} == {"snoozed_until", "reason"}


def test_snoozed_task_reopens_by_itself_on_its_date(csm: User, account: Account) -> None:
    task = TaskFactory.create(account=account)
    snooze_task(task=task, actor=csm, until=TOMORROW, reason="Customer on holiday")
    assert reopen_snoozed_tasks(today=timezone.localdate()) == 0
    assert reopen_snoozed_tasks(today=TOMORROW) == 1
    task.refresh_from_db()
    assert task.status == TaskStatus.OPEN and task.snoozed_until is None
    last = task.events.last()
    assert (
        last is not None
        and last.note == "Snooze ended (Customer on holiday)"
        and last.actor is None
    )


def test_reopen_task_runs_through_the_beat_task(csm: User, account: Account) -> None:
    from playbooks.tasks import reopen_snoozed_tasks

    task = TaskFactory.create(account=account, status="snoozed", snoozed_until=timezone.localdate())
    reopen_snoozed_tasks.delay()
    task.refresh_from_db()
    assert task.status == TaskStatus.OPEN


def test_manager_reassigns_within_the_team_only(
    manager: User, csm: User, teammate: User, other_csm: User, account: Account
) -> None:
    task = TaskFactory.create(account=account, assignee=csm)
    reassign_task(task=task, actor=manager, assignee=teammate)
    task.refresh_from_db()
    assert task.assignee == teammate
    assert TaskEvent.objects.filter(
        task=task, kind="reassigned", from_value="csm", to_value="teammate"
    ).exists()
    with pytest.raises(ValidationFailed, match="outside your team"):
        reassign_task(task=task, actor=manager, assignee=other_csm)


def test_csm_cannot_reassign(csm: User, teammate: User, account: Account) -> None:
    task = TaskFactory.create(account=account, assignee=csm)
    with pytest.raises(ApplicationError, match="manager or an admin"):
        reassign_task(task=task, actor=csm, assignee=teammate)


def test_csm_creates_a_task_for_themself_but_not_for_others(
    csm: User, teammate: User, account: Account
) -> None:
    task = create_task(actor=csm, account=account, title="Send QBR deck", due_date=TOMORROW)
    assert task.assignee == csm
    assert Activity.objects.filter(account=account, kind=Activity.Kind.TASK_CREATED).exists()
    with pytest.raises(ValidationFailed, match="outside your team"):
        create_task(actor=csm, account=account, title="x", assignee=teammate)


def test_edits_are_recorded(csm: User, account: Account) -> None:
    task = TaskFactory.create(account=account, title="Old")
    update_task(task=task, actor=csm, title="New", priority="high")
    assert list(task.events.values_list("from_value", "to_value")) == [
        ("title: Old", "New"),
        ("priority: normal", "high"),
    ]


# --- bulk outreach --------------------------------------------------------------------------


def test_bulk_outreach_preview_creates_nothing_then_creation_matches_it(
    manager: User, csm: User, teammate: User, other_csm: User
) -> None:
    red_a = AccountFactory.create(owner=csm, red=True, segment="SMB", name="A red")
    red_b = AccountFactory.create(owner=teammate, red=True, segment="SMB", name="B red")
    AccountFactory.create(owner=csm, green=True, segment="SMB")
    AccountFactory.create(owner=other_csm, red=True, segment="SMB")  # another team
    spec = OutreachSpec(
        title="Check in with {account_name}", band="red", segment="SMB", due_in_days=5
    )
    plan = plan_outreach(actor=manager, spec=spec, today=timezone.localdate())
    assert [(p.account, p.assignee, p.title) for p in plan] == [
        (red_a, csm, "Check in with A red"),
        (red_b, teammate, "Check in with B red"),
    ]
    assert not Task.objects.exists()
    tasks = create_outreach(actor=manager, spec=spec)
    assert sorted((t.account.name, t.assignee.username) for t in tasks) == [  # type: ignore[union-attr]
        ("A red", "csm"),
        ("B red", "teammate"),
    ]
    assert all(t.due_date == timezone.localdate() + dt.timedelta(days=5) for t in tasks)


def test_bulk_outreach_to_a_chosen_csm_with_renewal_and_drop_filters(
    manager: User, csm: User, teammate: User
) -> None:
    soon = timezone.localdate() + dt.timedelta(days=20)
    hit = AccountFactory.create(owner=csm, renewal_date=soon, score_change_30d=-18)
    AccountFactory.create(owner=csm, renewal_date=soon, score_change_30d=-3)
    AccountFactory.create(owner=csm, score_change_30d=-30)  # renews in 120 days
    spec = OutreachSpec(
        title="Renewal call", renewal_within_days=30, score_drop_at_least=10, assignee=teammate
    )
    tasks = create_outreach(actor=manager, spec=spec)
    assert [(t.account, t.assignee) for t in tasks] == [(hit, teammate)]


def test_csm_cannot_assign_outreach(csm: User) -> None:
    with pytest.raises(ApplicationError, match="managers and admins"):
        plan_outreach(actor=csm, spec=OutreachSpec(title="x"), today=timezone.localdate())


# --- concurrency on PostgreSQL ----------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_evaluating_the_same_change_at_once_leave_one_task(
    csm: User, account: Account
) -> None:
    playbook = PlaybookFactory.create()
    c = change(account, band="red", score=20, previous_band="yellow")
    barrier = threading.Barrier(2)
    results: list[int] = []
    errors: list[BaseException] = []

    def evaluate() -> None:
        try:
            barrier.wait()
            results.append(evaluate_score_changes(changes=[c]))
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=evaluate) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert sorted(results) == [0, 1]
    assert Task.objects.filter(playbook=playbook, account=account, status="open").count() == 1
    assert PlaybookRun.objects.filter(playbook=playbook).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_database_refuses_a_second_open_task_for_a_playbook_and_account(
    account: Account,
) -> None:
    from django.db import IntegrityError

    playbook = PlaybookFactory.create()
    TaskFactory.create(account=account, playbook=playbook)
    with pytest.raises(IntegrityError):
        TaskFactory.create(account=account, playbook=playbook)
    TaskFactory.create(account=account, playbook=playbook, status="done")  # closed ones are fine
