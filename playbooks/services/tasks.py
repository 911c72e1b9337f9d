"""The task lifecycle: creating tasks by hand, moving them along ``ALLOWED_TRANSITIONS``,
reassigning and editing them, reopening snoozed ones, and keeping each account's open-task
count in step (``adjust_open_task_counts``, in the transaction of every change)."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import Account, Activity, User
from accounts.selectors.access import can_manage_account, visible_users
from accounts.services.outbox import Topic, record_outbox_events
from chs_site.errors import Conflict, PermissionDenied, ValidationFailed
from playbooks.models import Task, TaskEvent, TaskPriority, TaskStatus
from playbooks.selectors.tasks import accounts_with_open_task
from playbooks.services.notifications import notify

# The explicit table of task status changes; anything not listed is refused.
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    TaskStatus.OPEN: frozenset({TaskStatus.DONE, TaskStatus.SNOOZED, TaskStatus.CANCELLED}),
    TaskStatus.SNOOZED: frozenset({TaskStatus.OPEN, TaskStatus.DONE, TaskStatus.CANCELLED}),
    TaskStatus.DONE: frozenset(),
    TaskStatus.CANCELLED: frozenset(),
    # Only ``services.autoclose`` closes a task by itself; nobody moves one there by hand.
    TaskStatus.RESOLVED: frozenset(),
}


_UNSET: Any = object()  # "not given" for optional fields that may be set to None


def adjust_open_task_counts(*, changes: Iterable[tuple[int, int]]) -> None:
    """Keep ``Account.open_task_count`` (the portfolio's "open tasks") in step with tasks
    opened (+1) or closed (-1), given as (account id, change) pairs. Every write that opens
    or closes a task calls it inside that write's transaction. Relative updates
    (``count = count + n``), never a recount: two transactions adding tasks to one account
    at once both land (the row lock orders them, and each adds to the committed value),
    where a recount would miss the other's uncommitted task.
    One UPDATE per distinct change size, whatever the batch's size; a bulk of tasks (one
    per account, or a playbook's steps) has one or two."""
    per_account: Counter[int] = Counter()
    for account_id, delta in changes:
        per_account[account_id] += delta
    by_delta: dict[int, list[int]] = defaultdict(list)
    for account_id, delta in per_account.items():
        if delta:
            by_delta[delta].append(account_id)
    for delta, ids in by_delta.items():
        # Batches keep each statement's parameter list well inside SQLite's limit (32 766
        # variables since SQLite 3.32) for an outreach to a whole 100 000-account book.
        for start in range(0, len(ids), 10_000):
            Account.objects.filter(pk__in=ids[start : start + 10_000]).update(
                open_task_count=F("open_task_count") + delta
            )


def open_delta(old: str | None, new: str | None) -> int:
    return (new == TaskStatus.OPEN) - (old == TaskStatus.OPEN)


def _event(
    task: Task,
    kind: str,
    actor: User | None,
    *,
    old: str = "",
    new: str = "",
    note: str = "",
    now: dt.datetime,
) -> None:
    TaskEvent.objects.create(
        task=task,
        kind=kind,
        actor=actor,
        occurred_at=now,
        from_value=old[:200],
        to_value=new[:200],
        note=note,
    )


def _activity(
    task: Task, kind: str, actor: User | None, summary: str, now: dt.datetime, **details: Any
) -> None:
    Activity.objects.create(
        account_id=task.account_id,
        kind=kind,
        actor=actor,
        occurred_at=now,
        summary=summary[:300],
        details={"task": task.pk, **details},
    )


def check_assignee(actor: User, assignee: User | None) -> None:
    if assignee is None:
        return
    if not assignee.is_active:
        raise ValidationFailed(
            f"{assignee.display_name} is deactivated.",
            errors=[{"field": "assignee", "message": "inactive user"}],
        )
    if not visible_users(actor).filter(pk=assignee.pk).exists():
        raise ValidationFailed(
            f"You cannot assign work to {assignee.display_name}: they are outside your team.",
            errors=[{"field": "assignee", "message": "outside your team"}],
        )


@transaction.atomic
def create_task(
    *,
    actor: User,
    account: Account,
    title: str,
    description: str = "",
    due_date: dt.date | None = None,
    priority: str = TaskPriority.NORMAL,
    assignee: User | None = None,
    now: dt.datetime | None = None,
) -> Task:
    """A task by hand. The caller fetched ``account`` through the actor's scope. Without an
    assignee it goes to the account's owner; CSMs can only assign to themselves."""
    now = now or timezone.now()
    title = title.strip()
    errors = []
    if not title:
        errors.append({"field": "title", "message": "A title is required."})
    if priority not in TaskPriority.values:
        errors.append(
            {"field": "priority", "message": f"Choose one of {', '.join(TaskPriority.values)}."}
        )
    if errors:
        raise ValidationFailed(
            "The task is not valid: " + "; ".join(e["message"] for e in errors), errors=errors
        )
    if assignee is None:
        assignee = account.owner or actor
    if assignee != account.owner or not actor.is_csm:
        check_assignee(actor, assignee)
    task = Task.objects.create(
        account=account,
        title=title[:200],
        description=description,
        due_date=due_date,
        priority=priority,
        assignee=assignee,
        created_by=actor,
        created_at=now,
    )
    adjust_open_task_counts(changes=[(account.pk, open_delta(None, task.status))])
    _event(task, TaskEvent.Kind.CREATED, actor, new=assignee.username if assignee else "", now=now)
    record_outbox_events(topic=Topic.TASK_CREATED, items=[(account.pk, task.pk)], at=now)
    _activity(task, Activity.Kind.TASK_CREATED, actor, f"Task created: {task.title}", now)
    if assignee and assignee != actor:
        notify(
            recipients=[assignee],
            title=f"New task: {task.title}",
            body=f"{actor.display_name} assigned you a task on {account.name}.",
            account=account,
            task=task,
            now=now,
        )
    return task


@dataclass(frozen=True)
class BulkTasks:
    """What a bulk "create tasks" did (or, from ``plan_tasks_for_accounts``, would do)."""

    create: list[Account]
    already_open: list[Account]  # skipped: an open or snoozed task with this title


def plan_tasks_for_accounts(*, accounts: list[Account], title: str) -> BulkTasks:
    """Which of ``accounts`` would get a task titled ``title``; creates nothing (the
    confirmation's counts come from here, as do the action's)."""
    busy = accounts_with_open_task((a.pk for a in accounts), title.strip()[:200])
    return BulkTasks(
        create=[a for a in accounts if a.pk not in busy],
        already_open=[a for a in accounts if a.pk in busy],
    )


@transaction.atomic
def create_tasks_for_accounts(
    *,
    actor: User,
    accounts: list[Account],
    title: str,
    description: str = "",
    due_date: dt.date | None = None,
    priority: str = TaskPriority.NORMAL,
    assignee: User | None = None,
    now: dt.datetime | None = None,
) -> BulkTasks:
    """One task per account (``create_task`` each, all in one transaction: a refusal on any
    account creates none), skipping accounts that already have an open task with this
    title. The caller fetched ``accounts`` through the actor's scope."""
    plan = plan_tasks_for_accounts(accounts=accounts, title=title)
    for account in plan.create:
        create_task(
            actor=actor,
            account=account,
            title=title,
            description=description,
            due_date=due_date,
            priority=priority,
            assignee=assignee,
            now=now,
        )
    return plan


@transaction.atomic
def transition_task(
    *,
    task: Task,
    actor: User | None,
    to_status: str,
    outcome_note: str = "",
    snoozed_until: dt.date | None = None,
    reason: str = "",
    now: dt.datetime | None = None,
) -> Task:
    """Move a task along ``ALLOWED_TRANSITIONS``. Completing needs an outcome note (it goes to
    the account's timeline); snoozing needs a future date and a reason."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    locked = Task.objects.select_for_update().get(pk=task.pk)
    if to_status not in TaskStatus.values:
        raise ValidationFailed(
            f"Unknown status {to_status!r}; use {', '.join(TaskStatus.values)}.",
            errors=[{"field": "status", "message": "unknown status"}],
        )
    if to_status not in ALLOWED_TRANSITIONS[locked.status]:
        allowed = ", ".join(sorted(ALLOWED_TRANSITIONS[locked.status])) or "nothing (it is closed)"
        raise Conflict(  # the task's current state, not the request, is in the way
            f"A {locked.get_status_display().lower()} task cannot become {to_status}; "
            f"it can become {allowed}."
        )
    old = locked.status
    fields = ["status", "updated_at"]
    summary = ""
    kind = Activity.Kind.TASK_UPDATED
    if to_status == TaskStatus.DONE:
        outcome_note = outcome_note.strip()
        if not outcome_note:
            raise ValidationFailed(
                "Say what happened: completing a task needs an outcome note.",
                errors=[{"field": "outcome_note", "message": "required to complete a task"}],
            )
        locked.outcome_note = outcome_note
        locked.closed_at = now
        fields += ["outcome_note", "closed_at"]
        summary = f"Task done: {locked.title}: {outcome_note}"
        kind = Activity.Kind.TASK_COMPLETED
    elif to_status == TaskStatus.SNOOZED:
        errors = []
        if snoozed_until is None or snoozed_until <= today:
            errors.append({"field": "snoozed_until", "message": "choose a date after today"})
        if not reason.strip():
            errors.append({"field": "reason", "message": "say why the task waits"})
        if errors:
            raise ValidationFailed("Snoozing needs a date after today and a reason.", errors=errors)
        locked.snoozed_until = snoozed_until
        locked.snooze_reason = reason.strip()[:300]
        fields += ["snoozed_until", "snooze_reason"]
        summary = f"Task snoozed until {snoozed_until:%b %d}: {locked.title} ({reason.strip()})"
    elif to_status == TaskStatus.CANCELLED:
        locked.closed_at = now
        fields += ["closed_at"]
        summary = f"Task cancelled: {locked.title}" + (
            f" ({reason.strip()})" if reason.strip() else ""
        )
    else:  # back to open
        locked.snoozed_until = None
        locked.snooze_reason = ""
        fields += ["snoozed_until", "snooze_reason"]
        summary = f"Task reopened: {locked.title}"
    locked.status = to_status
    locked.save(update_fields=fields)
    adjust_open_task_counts(changes=[(locked.account_id, open_delta(old, to_status))])
    _event(
        locked,
        TaskEvent.Kind.STATUS,
        actor,
        old=old,
        new=to_status,
        note=outcome_note or reason,
        now=now,
    )
    _activity(locked, kind, actor, summary, now, status=to_status, outcome_note=outcome_note)
    if to_status == TaskStatus.DONE:
        record_outbox_events(
            topic=Topic.TASK_COMPLETED, items=[(locked.account_id, locked.pk)], at=now
        )
    return locked


def complete_task(
    *, task: Task, actor: User, outcome_note: str, now: dt.datetime | None = None
) -> Task:
    return transition_task(
        task=task, actor=actor, to_status=TaskStatus.DONE, outcome_note=outcome_note, now=now
    )


def snooze_task(
    *, task: Task, actor: User, until: dt.date | None, reason: str, now: dt.datetime | None = None
) -> Task:
    return transition_task(
        task=task,
        actor=actor,
        to_status=TaskStatus.SNOOZED,
        snoozed_until=until,
        reason=reason,
        now=now,
    )


def cancel_task(
    *, task: Task, actor: User, reason: str = "", now: dt.datetime | None = None
) -> Task:
    return transition_task(
        task=task, actor=actor, to_status=TaskStatus.CANCELLED, reason=reason, now=now
    )


@transaction.atomic
def reassign_task(
    *, task: Task, actor: User, assignee: User, now: dt.datetime | None = None
) -> Task:
    """Managers within their team, admins anywhere."""
    now = now or timezone.now()
    if not can_manage_account(actor, task.account):
        raise PermissionDenied("Only the team's manager or an admin can reassign this task.")
    check_assignee(actor, assignee)
    locked = (
        Task.objects.select_for_update(of=("self",))
        .select_related("assignee", "account")
        .get(pk=task.pk)
    )
    if not locked.is_active:
        raise Conflict("This task is closed; reassigning it would change nothing.")
    if locked.assignee_id == assignee.pk:
        return locked
    old = locked.assignee.username if locked.assignee else ""
    locked.assignee = assignee
    locked.save(update_fields=["assignee", "updated_at"])
    _event(locked, TaskEvent.Kind.REASSIGNED, actor, old=old, new=assignee.username, now=now)
    _activity(
        locked,
        Activity.Kind.TASK_UPDATED,
        actor,
        f"Task reassigned to {assignee.display_name}: {locked.title}",
        now,
    )
    if assignee != actor:
        notify(
            recipients=[assignee],
            title=f"Task assigned to you: {locked.title}",
            body=f"{actor.display_name} reassigned a task on {locked.account.name} to you.",
            account=locked.account,
            task=locked,
            now=now,
        )
    return locked


@transaction.atomic
def update_task(
    *,
    task: Task,
    actor: User,
    title: str | None = None,
    description: str | None = None,
    due_date: Any = _UNSET,
    priority: str | None = None,
    now: dt.datetime | None = None,
) -> Task:
    now = now or timezone.now()
    locked = Task.objects.select_for_update().get(pk=task.pk)
    changes: list[tuple[str, Any, Any]] = []
    if title is not None:
        if not title.strip():
            raise ValidationFailed(
                "A title is required.", errors=[{"field": "title", "message": "required"}]
            )
        changes.append(("title", locked.title, title.strip()[:200]))
    if description is not None:
        changes.append(("description", locked.description, description))
    if due_date is not _UNSET:
        changes.append(("due_date", locked.due_date, due_date))
    if priority is not None:
        if priority not in TaskPriority.values:
            raise ValidationFailed(
                f"Unknown priority {priority!r}.",
                errors=[{"field": "priority", "message": "unknown"}],
            )
        changes.append(("priority", locked.priority, priority))
    changed = [(f, old, new) for f, old, new in changes if old != new]
    for field_name, _old, new in changed:
        setattr(locked, field_name, new)
    if changed:
        locked.save(update_fields=[f for f, _, _ in changed] + ["updated_at"])
        for field_name, old, new in changed:
            _event(
                locked,
                TaskEvent.Kind.EDITED,
                actor,
                old=f"{field_name}: {old or ''}",
                new=str(new or ""),
                now=now,
            )
    return locked


def reopen_snoozed_tasks(*, today: dt.date | None = None) -> int:
    """Beat: snoozed tasks whose date has come are open again (with a history row)."""
    now = timezone.now()
    today = today or timezone.localdate(now)
    with transaction.atomic():
        due = list(
            Task.objects.select_for_update(skip_locked=True).filter(
                status=TaskStatus.SNOOZED, snoozed_until__lte=today
            )
        )
        if not due:
            return 0
        Task.objects.filter(pk__in=[t.pk for t in due], status=TaskStatus.SNOOZED).update(
            status=TaskStatus.OPEN, snoozed_until=None, updated_at=now
        )
        # Still snoozed when counted: the rows are locked since the SELECT above.
        adjust_open_task_counts(changes=((t.account_id, 1) for t in due))
        TaskEvent.objects.bulk_create(
            [
                TaskEvent(
                    task=t,
                    kind=TaskEvent.Kind.STATUS,
                    occurred_at=now,
                    from_value=TaskStatus.SNOOZED,
                    to_value=TaskStatus.OPEN,
                    note=f"Snooze ended ({t.snooze_reason})",
                )
                for t in due
            ]
        )
    return len(due)
