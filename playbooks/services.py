"""Writes of the playbooks app: firing playbooks, the task lifecycle, bulk outreach, success
plans and notifications. Services validate, authorise where they take an ``actor``, write in
one transaction and raise ``ApplicationError`` with a message a person can act on.

Duplicate tasks are impossible by construction: a firing inserts its first task with
``ON CONFLICT DO NOTHING`` against the partial unique index on (playbook, account, step) for
open tasks (see ``playbooks.models``); a firing whose insert was dropped is rolled back
(its run row deleted) so the run log only holds firings that happened.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import OperationalError, transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import Account, Activity, Role, User
from accounts.selectors import can_manage_account, visible_users
from chs_site.errors import ApplicationError, ValidationFailed
from playbooks import triggers
from playbooks.assignment import assignee_for, load_staff, template_values
from playbooks.models import (
    SCORE_TRIGGERS,
    TIME_TRIGGERS,
    Milestone,
    Notification,
    Objective,
    Playbook,
    PlaybookAction,
    PlaybookRun,
    SuccessPlan,
    SuccessPlanTemplate,
    Task,
    TaskEvent,
    TaskPriority,
    TaskStatus,
    TriggerType,
    render_template,
)
from playbooks.triggers import Match, ScoreChangeLike
from scoring.models import MetricDefinition, MetricValue

logger = logging.getLogger(__name__)

# The explicit table of task status changes; anything not listed is refused.
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    TaskStatus.OPEN: frozenset({TaskStatus.DONE, TaskStatus.SNOOZED, TaskStatus.CANCELLED}),
    TaskStatus.SNOOZED: frozenset({TaskStatus.OPEN, TaskStatus.DONE, TaskStatus.CANCELLED}),
    TaskStatus.DONE: frozenset(),
    TaskStatus.CANCELLED: frozenset(),
}


_UNSET: Any = object()  # "not given" for optional fields that may be set to None


# --- evaluation ---------------------------------------------------------------------------


def evaluate_score_changes(
    *, changes: Sequence[ScoreChangeLike], now: dt.datetime | None = None
) -> int:
    """Fire enabled playbooks for a batch of committed score changes; returns tasks created.

    Score triggers (band entered, score drop, metric crossing) are matched against the
    changes; renewal and feedback triggers are checked for the changed accounts too, so a
    band change inside a renewal window acts within seconds instead of at the next sweep."""
    if not changes:
        return 0
    now = now or timezone.now()
    # The newest change per account wins if a batch holds several for one account.
    latest: dict[int, ScoreChangeLike] = {}
    for change in changes:
        seen = latest.get(change.account_id)
        if seen is None or change.computed_at >= seen.computed_at:
            latest[change.account_id] = change
    batch = list(latest.values())
    created = 0
    failed: list[Playbook] = []
    for playbook in _enabled_playbooks():
        if playbook.trigger_type in SCORE_TRIGGERS:
            eligible = set(
                triggers.eligible_accounts(playbook, latest).values_list("pk", flat=True)
            )
            matches = triggers.match_changes(
                playbook, [c for c in batch if c.account_id in eligible]
            )
        elif playbook.trigger_type in (TriggerType.RENEWAL_WINDOW, TriggerType.NEGATIVE_FEEDBACK):
            matches = triggers.match_state(playbook, now=now, account_ids=latest)
        else:
            continue
        try:
            created += fire(
                playbook=playbook, matches=matches, source=PlaybookRun.Source.SCORE_CHANGE, now=now
            )
        except OperationalError:
            # A deadlock or a dropped connection: the other playbooks go on, and the batch
            # is evaluated again on a worker shortly (firing is idempotent).
            logger.warning(
                "playbook %s: transient error; retrying the batch", playbook.pk, exc_info=True
            )
            failed.append(playbook)
    if failed:
        from playbooks.tasks import change_to_json, evaluate_score_changes_task

        if evaluate_score_changes_task.app.conf.task_always_eager:
            raise ApplicationError(
                f"Playbooks {', '.join(p.name for p in failed)} could not be evaluated "
                "(database busy); no broker is configured to retry."
            )
        evaluate_score_changes_task.apply_async(
            args=([change_to_json(c) for c in batch],), countdown=10
        )
    return created


def evaluate_time_triggers(*, now: dt.datetime | None = None) -> int:
    """The beat sweep: renewal windows, missing activity and negative feedback."""
    now = now or timezone.now()
    created = 0
    for playbook in _enabled_playbooks():
        if playbook.trigger_type not in TIME_TRIGGERS:
            continue
        matches = triggers.match_state(playbook, now=now)
        created += fire(
            playbook=playbook, matches=matches, source=PlaybookRun.Source.SCHEDULE, now=now
        )
    return created


def evaluate_feedback(*, feedback_ids: Sequence[int], now: dt.datetime | None = None) -> int:
    """Negative-feedback playbooks for the accounts of freshly recorded feedback (the
    ingestion side may call this right after storing feedback; the beat sweep catches
    anything it does not)."""
    from accounts.models import Feedback

    now = now or timezone.now()
    account_ids = set(
        Feedback.objects.filter(pk__in=list(feedback_ids)).values_list("account_id", flat=True)
    )
    if not account_ids:
        return 0
    created = 0
    for playbook in _enabled_playbooks():
        if playbook.trigger_type == TriggerType.NEGATIVE_FEEDBACK:
            matches = triggers.match_state(playbook, now=now, account_ids=account_ids)
            created += fire(
                playbook=playbook, matches=matches, source=PlaybookRun.Source.FEEDBACK, now=now
            )
    return created


def run_playbook_now(*, playbook: Playbook, actor: User, now: dt.datetime | None = None) -> int:
    """Fire a playbook against the data as it is now (what its preview shows)."""
    if not actor.is_admin:
        raise ApplicationError("Only admins can run playbooks.")
    now = now or timezone.now()
    matches = triggers.match_state(playbook, now=now)
    return fire(playbook=playbook, matches=matches, source=PlaybookRun.Source.MANUAL, now=now)


def _enabled_playbooks() -> list[Playbook]:
    return list(
        Playbook.objects.filter(enabled=True)
        .select_related("metric")
        .prefetch_related("teams", "actions__plan_template", "actions__assignee_user")
    )


def fire(
    *,
    playbook: Playbook,
    matches: Sequence[Match],
    source: str,
    now: dt.datetime,
    notify: bool = True,
) -> int:
    """Fire ``playbook`` for each match not blocked (open task, cooldown); returns tasks
    created. Safe to run twice at once for the same matches: see the module docstring.
    ``notify=False`` skips notify actions (backfills and demo data page nobody)."""
    matches = list({m.account_id: m for m in matches}.values())
    blocked = triggers.blocked_account_ids(playbook, matches, now)
    matches = [m for m in matches if m.account_id not in blocked]
    if not matches:
        return 0
    with transaction.atomic():
        return _fire_locked(playbook, matches, source, now, notify=notify)


def _fire_locked(
    playbook: Playbook, matches: list[Match], source: str, now: dt.datetime, *, notify: bool
) -> int:
    # Lock the playbook's actions: round-robin turns are handed out one batch at a time.
    actions = list(PlaybookAction.objects.select_for_update().filter(playbook=playbook))
    task_actions = [a for a in actions if a.kind == PlaybookAction.Kind.CREATE_TASK]
    staff = load_staff(m.account_id for m in matches)
    today = timezone.localdate(now)
    runs = PlaybookRun.objects.bulk_create(
        [
            PlaybookRun(
                playbook=playbook,
                account_id=m.account_id,
                fired_at=now,
                source=source,
                trigger_type=playbook.trigger_type,
                reason=m.reason[:300],
                values=m.values,
                band_at_firing=str(
                    m.values.get("band") or staff.accounts[m.account_id].health_band or ""
                ),
                # What a firing normally creates; corrected below in the rare case a
                # later step's task was already open.
                tasks_created=len(task_actions),
            )
            for m in matches
            if m.account_id in staff.accounts
        ]
    )
    match_by_account = {m.account_id: m for m in matches}

    def build(run: PlaybookRun, step: int, action: PlaybookAction) -> Task:
        account = staff.accounts[run.account_id]
        values = template_values(account, match_by_account[run.account_id], today)
        return Task(
            account=account,
            title=render_template(action.title_template, values)[:200],
            description=render_template(action.description_template, values),
            priority=action.priority,
            due_date=today + dt.timedelta(days=action.due_in_days),
            assignee=assignee_for(action, account, staff),
            playbook=playbook,
            run=run,
            step=step,
            created_at=now,
        )

    if task_actions:
        # ON CONFLICT DO NOTHING: a concurrent firing that already holds the open task
        # (committed or not) makes this insert a no-op; PostgreSQL waits for the other
        # transaction and then skips, so exactly one open task survives.
        Task.objects.bulk_create(
            [build(r, 0, task_actions[0]) for r in runs], ignore_conflicts=True
        )
        won = set(Task.objects.filter(run__in=runs, step=0).values_list("run_id", flat=True))
        lost = [r for r in runs if r.pk not in won]
        if lost:
            PlaybookRun.objects.filter(pk__in=[r.pk for r in lost]).delete()
        runs = [r for r in runs if r.pk in won]
        if len(task_actions) > 1:
            Task.objects.bulk_create(
                [build(r, step, a) for r in runs for step, a in enumerate(task_actions) if step],
                ignore_conflicts=True,
            )
    if not runs:
        return 0
    tasks = list(Task.objects.filter(run__in=runs).select_related("assignee"))
    adjust_open_task_counts(changes=((t.account_id, _open_delta(None, t.status)) for t in tasks))
    tasks_by_run: dict[int, list[Task]] = defaultdict(list)
    for task in tasks:
        assert task.run_id is not None
        tasks_by_run[task.run_id].append(task)
    TaskEvent.objects.bulk_create(
        [
            TaskEvent(
                task=t,
                kind=TaskEvent.Kind.CREATED,
                occurred_at=now,
                to_value=t.assignee.username if t.assignee else "",
                note=f"Playbook “{playbook.name}”",
            )
            for t in tasks
        ]
    )
    short = [r for r in runs if len(tasks_by_run[r.pk]) != r.tasks_created]
    for run in short:
        run.tasks_created = len(tasks_by_run[run.pk])
    if short:
        PlaybookRun.objects.bulk_update(short, ["tasks_created"])
    Activity.objects.bulk_create(
        [
            Activity(
                account_id=run.account_id,
                kind=Activity.Kind.PLAYBOOK_FIRED,
                occurred_at=now,
                summary=f"Playbook “{playbook.name}” fired: {run.reason}"[:300],
                details={
                    "playbook": playbook.pk,
                    "run": run.pk,
                    "values": run.values,
                    "tasks": [
                        {
                            "id": t.pk,
                            "title": t.title,
                            "assignee": t.assignee.username if t.assignee else None,
                        }
                        for t in tasks_by_run[run.pk]
                    ],
                },
            )
            for run in runs
        ]
    )
    notifications: list[Notification] = []
    for action in actions:
        if action.kind == PlaybookAction.Kind.NOTIFY and notify:
            for run in runs:
                account = staff.accounts[run.account_id]
                recipient = assignee_for(action, account, staff)
                if recipient is None:
                    continue
                values = template_values(account, match_by_account[run.account_id], today)
                first_task = next(iter(tasks_by_run[run.pk]), None)
                notifications.append(
                    Notification(
                        recipient=recipient,
                        account=account,
                        task=first_task,
                        title=render_template(action.title_template, values)[:200],
                        body=render_template(action.description_template, values) or run.reason,
                        url=account.get_absolute_url(),
                        created_at=now,
                    )
                )
        elif action.kind == PlaybookAction.Kind.START_PLAN and action.plan_template:
            for run in runs:
                start_plan_from_template(
                    account=staff.accounts[run.account_id],
                    template=action.plan_template,
                    actor=None,
                    today=today,
                )
    if any(a.assignee_rule == PlaybookAction.AssigneeRule.ROUND_ROBIN for a in actions):
        PlaybookAction.objects.bulk_update(actions, ["round_robin_state"])
    if notifications:
        _queue_notifications(notifications)
    return len(tasks)


# --- tasks --------------------------------------------------------------------------------


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


def _open_delta(old: str | None, new: str | None) -> int:
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


def _check_assignee(actor: User, assignee: User | None) -> None:
    if assignee is None:
        return
    if not assignee.is_active:
        raise ValidationFailed(
            f"{assignee.username} is deactivated.",
            errors=[{"field": "assignee", "message": "inactive user"}],
        )
    if not visible_users(actor).filter(pk=assignee.pk).exists():
        raise ValidationFailed(
            f"You cannot assign work to {assignee.username}: they are outside your team.",
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
        _check_assignee(actor, assignee)
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
    adjust_open_task_counts(changes=[(account.pk, _open_delta(None, task.status))])
    _event(task, TaskEvent.Kind.CREATED, actor, new=assignee.username if assignee else "", now=now)
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
        raise ApplicationError(
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
    adjust_open_task_counts(changes=[(locked.account_id, _open_delta(old, to_status))])
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
        raise ApplicationError("Only the team's manager or an admin can reassign this task.")
    _check_assignee(actor, assignee)
    locked = (
        Task.objects.select_for_update(of=("self",))
        .select_related("assignee", "account")
        .get(pk=task.pk)
    )
    if not locked.is_active:
        raise ApplicationError("This task is closed; reassigning it would change nothing.")
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


# --- bulk outreach --------------------------------------------------------------------------


@dataclass(frozen=True)
class OutreachSpec:
    title: str
    description: str = ""
    due_in_days: int = 3
    priority: str = TaskPriority.NORMAL
    band: str = ""
    segment: str = ""
    renewal_within_days: int | None = None
    score_drop_at_least: float | None = None
    assignee: User | None = None  # None: each account's owner


@dataclass(frozen=True)
class PlannedTask:
    account: Account
    assignee: User | None
    title: str
    due_date: dt.date


def plan_outreach(*, actor: User, spec: OutreachSpec, today: dt.date) -> list[PlannedTask]:
    """What ``create_outreach`` would create; creates nothing (the preview)."""
    from playbooks.selectors import outreach_accounts

    if not (actor.is_admin or actor.role == Role.MANAGER):
        raise ApplicationError("Only managers and admins assign outreach in bulk.")
    if spec.assignee is not None:
        _check_assignee(actor, spec.assignee)
    accounts = outreach_accounts(actor, spec=spec, today=today)
    due = today + dt.timedelta(days=spec.due_in_days)
    plan = []
    for account in accounts:
        values = template_values(account, Match(account.pk, ""), today)
        plan.append(
            PlannedTask(
                account=account,
                assignee=spec.assignee or account.owner,
                title=render_template(spec.title, values)[:200],
                due_date=due,
            )
        )
    return plan


@transaction.atomic
def create_outreach(
    *, actor: User, spec: OutreachSpec, now: dt.datetime | None = None
) -> list[Task]:
    now = now or timezone.now()
    today = timezone.localdate(now)
    plan = plan_outreach(actor=actor, spec=spec, today=today)
    if not plan:
        raise ApplicationError("No account matches these filters; nothing was created.")
    tasks = Task.objects.bulk_create(
        [
            Task(
                account=p.account,
                title=p.title,
                description=render_template(
                    spec.description, template_values(p.account, Match(p.account.pk, ""), today)
                ),
                due_date=p.due_date,
                priority=spec.priority,
                assignee=p.assignee,
                created_by=actor,
                created_at=now,
            )
            for p in plan
        ]
    )
    adjust_open_task_counts(changes=((t.account_id, _open_delta(None, t.status)) for t in tasks))
    TaskEvent.objects.bulk_create(
        [
            TaskEvent(
                task=t,
                kind=TaskEvent.Kind.CREATED,
                actor=actor,
                occurred_at=now,
                to_value=t.assignee.username if t.assignee else "",
                note="Bulk outreach",
            )
            for t in tasks
        ]
    )
    Activity.objects.bulk_create(
        [
            Activity(
                account_id=t.account_id,
                kind=Activity.Kind.TASK_CREATED,
                actor=actor,
                occurred_at=now,
                summary=f"Outreach task created: {t.title}"[:300],
                details={"task": t.pk, "bulk": True},
            )
            for t in tasks
        ]
    )
    by_assignee: dict[int, list[Task]] = defaultdict(list)
    for t in tasks:
        if t.assignee_id and t.assignee_id != actor.pk:
            by_assignee[t.assignee_id].append(t)
    if by_assignee:
        people = User.objects.in_bulk(list(by_assignee))
        _queue_notifications(
            [
                Notification(
                    recipient=people[uid],
                    title=f"{len(ts)} outreach task{'s' if len(ts) != 1 else ''} assigned to you",
                    body=f"{actor.display_name}: {spec.title}",
                    url="/tasks/",
                    created_at=now,
                )
                for uid, ts in by_assignee.items()
            ]
        )
    return tasks


# --- success plans --------------------------------------------------------------------------


def _plan_activity(
    account: Account, actor: User | None, summary: str, now: dt.datetime, **details: Any
) -> None:
    Activity.objects.create(
        account=account,
        kind=Activity.Kind.PLAN,
        actor=actor,
        occurred_at=now,
        summary=summary[:300],
        details=details,
    )


def _latest_metric(account: Account, metric: MetricDefinition | None) -> float | None:
    if metric is None:
        return None
    row = (
        MetricValue.objects.filter(account=account, metric=metric)
        .order_by("-observed_at")
        .values_list("value", flat=True)
        .first()
    )
    return row


@transaction.atomic
def create_plan(
    *, account: Account, actor: User | None, title: str, now: dt.datetime | None = None
) -> SuccessPlan:
    now = now or timezone.now()
    if not title.strip():
        raise ValidationFailed(
            "Give the plan a title.", errors=[{"field": "title", "message": "required"}]
        )
    plan = SuccessPlan.objects.create(
        account=account, title=title.strip()[:200], created_by=actor, created_at=now
    )
    _plan_activity(account, actor, f"Success plan started: {plan.title}", now, plan=plan.pk)
    return plan


def start_plan_from_template(
    *, account: Account, template: SuccessPlanTemplate, actor: User | None, today: dt.date
) -> SuccessPlan | None:
    """Start ``template`` for ``account``; None if that template is already active there."""
    now = timezone.now()
    with transaction.atomic():
        if SuccessPlan.objects.filter(
            account=account, template=template, status=SuccessPlan.Status.ACTIVE
        ).exists():
            return None
        plan = SuccessPlan.objects.create(
            account=account,
            template=template,
            title=template.name,
            created_by=actor,
            created_at=now,
        )
        Objective.objects.bulk_create(
            [
                Objective(
                    plan=plan,
                    title=o.title,
                    metric=o.metric,
                    target=o.target,
                    baseline=_latest_metric(account, o.metric),
                    position=o.position,
                )
                for o in template.objectives.select_related("metric")
            ]
        )
        Milestone.objects.bulk_create(
            [
                Milestone(
                    plan=plan,
                    title=m.title,
                    due_date=today + dt.timedelta(days=m.due_in_days),
                    position=m.position,
                )
                for m in template.milestones.all()
            ]
        )
        _plan_activity(
            account,
            actor,
            f"Success plan started from template: {template.name}",
            now,
            plan=plan.pk,
        )
    return plan


@transaction.atomic
def add_objective(
    *,
    plan: SuccessPlan,
    actor: User,
    title: str,
    metric: MetricDefinition | None = None,
    target: float | None = None,
) -> Objective:
    errors = []
    if not title.strip():
        errors.append({"field": "title", "message": "required"})
    if (metric is None) != (target is None):
        errors.append(
            {"field": "target", "message": "a metric objective needs both a metric and a target"}
        )
    if errors:
        raise ValidationFailed(
            "The objective is not valid: " + "; ".join(e["message"] for e in errors), errors=errors
        )
    objective = Objective.objects.create(
        plan=plan,
        title=title.strip()[:200],
        metric=metric,
        target=target,
        baseline=_latest_metric(plan.account, metric),
        position=plan.objectives.count(),
    )
    _plan_activity(
        plan.account,
        actor,
        f"Objective added to {plan.title}: {objective.title}",
        timezone.now(),
        plan=plan.pk,
    )
    return objective


@transaction.atomic
def set_objective_progress(*, objective: Objective, actor: User, progress: int) -> Objective:
    if objective.metric_id is not None:
        raise ApplicationError(
            "This objective's progress comes from its metric; it cannot be set by hand."
        )
    if not 0 <= progress <= 100:
        raise ValidationFailed(
            "Progress is a percentage from 0 to 100.",
            errors=[{"field": "progress", "message": "0–100"}],
        )
    objective.manual_progress = progress
    objective.save(update_fields=["manual_progress"])
    return objective


@transaction.atomic
def add_milestone(
    *, plan: SuccessPlan, actor: User, title: str, due_date: dt.date | None
) -> Milestone:
    errors = []
    if not title.strip():
        errors.append({"field": "title", "message": "required"})
    if due_date is None:
        errors.append({"field": "due_date", "message": "required"})
    if errors:
        raise ValidationFailed(
            "The milestone is not valid: "
            + "; ".join(f"{e['field']} {e['message']}" for e in errors),
            errors=errors,
        )
    assert due_date is not None
    milestone = Milestone.objects.create(
        plan=plan, title=title.strip()[:200], due_date=due_date, position=plan.milestones.count()
    )
    _plan_activity(
        plan.account,
        actor,
        f"Milestone added to {plan.title}: {milestone.title} (due {due_date:%b %d})",
        timezone.now(),
        plan=plan.pk,
    )
    return milestone


@transaction.atomic
def set_milestone_status(*, milestone: Milestone, actor: User | None, status: str) -> Milestone:
    if status not in Milestone.Status.values:
        raise ValidationFailed(
            f"Unknown milestone status {status!r}.",
            errors=[{"field": "status", "message": "unknown"}],
        )
    if milestone.status == status:
        return milestone
    now = timezone.now()
    milestone.status = status
    milestone.completed_at = now if status == Milestone.Status.DONE else None
    milestone.save(update_fields=["status", "completed_at"])
    _plan_activity(
        milestone.plan.account,
        actor,
        f"Milestone {milestone.get_status_display().lower()}: {milestone.title}",
        now,
        plan=milestone.plan_id,
    )
    return milestone


@transaction.atomic
def set_plan_status(*, plan: SuccessPlan, actor: User, status: str) -> SuccessPlan:
    if status not in SuccessPlan.Status.values:
        raise ValidationFailed(
            f"Unknown plan status {status!r}.", errors=[{"field": "status", "message": "unknown"}]
        )
    plan.status = status
    plan.save(update_fields=["status"])
    _plan_activity(
        plan.account,
        actor,
        f"Success plan {plan.get_status_display().lower()}: {plan.title}",
        timezone.now(),
        plan=plan.pk,
    )
    return plan


# --- notifications --------------------------------------------------------------------------


class DeliveryFailed(Exception):
    """A channel failed; the Celery task retries it later (transient by nature)."""


def notify(
    *,
    recipients: Iterable[User],
    title: str,
    body: str = "",
    account: Account | None = None,
    task: Task | None = None,
    url: str = "",
    now: dt.datetime | None = None,
) -> list[Notification]:
    now = now or timezone.now()
    return _queue_notifications(
        [
            Notification(
                recipient=r,
                account=account,
                task=task,
                title=title[:200],
                body=body,
                url=url or (account.get_absolute_url() if account else "/tasks/"),
                created_at=now,
            )
            for r in recipients
        ]
    )


def webhook_url_for(user: User) -> str:
    """The team's incoming-webhook URL: the CSM's own team, or the team a manager leads."""
    from accounts.models import Team

    if user.team_id is not None:
        teams = Team.objects.filter(pk=user.team_id)
    else:
        teams = Team.objects.filter(manager=user).order_by("pk")
    return (
        teams.exclude(slack_webhook_url="").values_list("slack_webhook_url", flat=True).first()
        or ""
    )


def _queue_notifications(notifications: list[Notification]) -> list[Notification]:
    """Store the in-app rows and decide the channels now; deliver after commit, so a
    rolled-back firing sends nothing and a failed delivery never undoes the firing."""
    hooks: dict[int, str] = {}
    for n in notifications:
        mode = n.recipient.email_notifications
        if mode == User.EmailMode.OFF or not n.recipient.email:
            n.email_status = Notification.Delivery.SKIPPED
        elif mode == User.EmailMode.DIGEST:
            n.email_status = Notification.Delivery.DIGEST
        else:
            n.email_status = Notification.Delivery.PENDING
        if n.recipient_id not in hooks:
            hooks[n.recipient_id] = webhook_url_for(n.recipient)
        n.slack_status = (
            Notification.Delivery.PENDING
            if hooks[n.recipient_id]
            else Notification.Delivery.SKIPPED
        )
    created = Notification.objects.bulk_create(notifications)
    pending = [
        n.pk for n in created if Notification.Delivery.PENDING in (n.email_status, n.slack_status)
    ]
    if pending:
        from playbooks.tasks import deliver_notification

        for pk in pending:
            deliver_notification.delay_on_commit(pk)  # type: ignore[attr-defined]
    return created


def _post_webhook(url: str, text: str) -> None:
    request = urllib.request.Request(
        url,
        data=json.dumps({"text": text}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    # A short timeout: a slow chat service must not hold a worker.
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (admin-set URL)
        if response.status >= 300:
            raise DeliveryFailed(f"webhook answered {response.status}")


def deliver_notification(*, notification_id: int) -> Notification | None:
    """Send the pending channels of one notification. Raises ``DeliveryFailed`` after
    recording the error when a channel failed, so the caller can retry."""
    n = (
        Notification.objects.select_related("recipient__team", "account")
        .filter(pk=notification_id)
        .first()
    )
    if n is None:
        return None
    errors = []
    link = f"{settings.SITE_URL}{n.url}" if n.url else settings.SITE_URL
    if n.email_status in (Notification.Delivery.PENDING, Notification.Delivery.FAILED):
        try:
            send_mail(
                subject=f"[CHS] {n.title}",
                message=f"{n.body}\n\n{link}\n\nChange how CHS emails you in your profile.",
                from_email=None,
                recipient_list=[n.recipient.email],
            )
            n.email_status = Notification.Delivery.SENT
        except Exception as exc:  # any backend error: keep the row, retry later
            logger.warning("email for notification %s failed: %s", n.pk, exc)
            n.email_status = Notification.Delivery.FAILED
            errors.append(f"email: {exc}")
    if n.slack_status in (Notification.Delivery.PENDING, Notification.Delivery.FAILED):
        url = webhook_url_for(n.recipient)
        if not url:
            n.slack_status = Notification.Delivery.SKIPPED
        else:
            try:
                _post_webhook(url, f"*{n.title}* for {n.recipient.display_name}\n{n.body}\n{link}")
                n.slack_status = Notification.Delivery.SENT
            except (OSError, urllib.error.URLError, DeliveryFailed, ValueError) as exc:
                logger.warning("webhook for notification %s failed: %s", n.pk, exc)
                n.slack_status = Notification.Delivery.FAILED
                errors.append(f"webhook: {exc}")
    n.attempts += 1
    n.last_error = "; ".join(errors)[:300]
    n.save(update_fields=["email_status", "slack_status", "attempts", "last_error"])
    if errors:
        raise DeliveryFailed(n.last_error)
    return n


MAX_DELIVERY_ATTEMPTS = 8


def retry_failed_notifications() -> int:
    """Beat: re-send deliveries that failed (or whose message Redis lost), up to a cap."""
    ids = list(
        Notification.objects.filter(
            Q(email_status=Notification.Delivery.FAILED)
            | Q(slack_status=Notification.Delivery.FAILED),
            attempts__lt=MAX_DELIVERY_ATTEMPTS,
        ).values_list("pk", flat=True)[:500]
    )
    from playbooks.tasks import deliver_notification as deliver

    for pk in ids:
        deliver.delay(pk)
    return len(ids)


def send_digests(*, now: dt.datetime | None = None) -> int:
    """Beat, daily: one email per digest reader with everything since the last digest."""
    now = now or timezone.now()
    sent = 0
    waiting = (
        Notification.objects.filter(email_status=Notification.Delivery.DIGEST)
        .select_related("recipient")
        .order_by("recipient_id", "created_at")
    )
    grouped: dict[int, list[Notification]] = defaultdict(list)
    for n in waiting:
        grouped[n.recipient_id].append(n)
    for items in grouped.values():
        user = items[0].recipient
        lines = [f"- {n.title}: {n.body}" for n in items]
        try:
            send_mail(
                subject=f"[CHS] Your daily digest: {len(items)} update{'s' if len(items) != 1 else ''}",
                message="\n".join(lines) + f"\n\n{settings.SITE_URL}/notifications/",
                from_email=None,
                recipient_list=[user.email],
            )
        except Exception as exc:  # next day's digest tries again; nothing is lost
            logger.warning("digest for %s failed: %s", user.username, exc)
            continue
        Notification.objects.filter(pk__in=[n.pk for n in items]).update(
            email_status=Notification.Delivery.SENT
        )
        sent += 1
    return sent


def set_email_preference(*, user: User, mode: str) -> User:
    if mode not in User.EmailMode.values:
        raise ValidationFailed(
            f"Choose one of {', '.join(User.EmailMode.values)}.",
            errors=[{"field": "email_notifications", "message": "unknown choice"}],
        )
    user.email_notifications = mode
    user.save(update_fields=["email_notifications"])
    return user


def mark_notifications_read(*, user: User, ids: Sequence[int] | None = None) -> int:
    qs = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if ids is not None:
        qs = qs.filter(pk__in=list(ids))
    return qs.update(read_at=timezone.now())


# --- playbook configuration ----------------------------------------------------------------


@transaction.atomic
def set_playbook_enabled(*, playbook: Playbook, actor: User, enabled: bool) -> Playbook:
    if not actor.is_admin:
        raise ApplicationError("Only admins can switch playbooks on or off.")
    if enabled and not playbook.actions.exists():
        raise ApplicationError("Add at least one action before enabling this playbook.")
    playbook.enabled = enabled
    playbook.save(update_fields=["enabled", "updated_at"])
    return playbook
