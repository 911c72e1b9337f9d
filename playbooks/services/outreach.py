"""Bulk outreach: a manager's or admin's task for every account matching filters, with a
preview of exactly what would be created (``plan_outreach``)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from accounts.models import Account, Activity, Role, User
from accounts.services.outbox import Topic, record_outbox_events
from chs_site.errors import ApplicationError
from playbooks.assignment import template_values
from playbooks.models import Notification, Task, TaskEvent, TaskPriority, render_template
from playbooks.selectors.outreach import outreach_accounts
from playbooks.services.notifications import queue_notifications
from playbooks.services.tasks import adjust_open_task_counts, check_assignee, open_delta
from playbooks.triggers import Match


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
    account_ids: frozenset[int] | None = None  # None: every account the filters match


@dataclass(frozen=True)
class PlannedTask:
    account: Account
    assignee: User | None
    title: str
    due_date: dt.date


def plan_outreach(*, actor: User, spec: OutreachSpec, today: dt.date) -> list[PlannedTask]:
    """What ``create_outreach`` would create; creates nothing (the preview)."""
    if not (actor.is_admin or actor.role == Role.MANAGER):
        raise ApplicationError("Only managers and admins assign outreach in bulk.")
    if spec.assignee is not None:
        check_assignee(actor, spec.assignee)
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
    adjust_open_task_counts(changes=((t.account_id, open_delta(None, t.status)) for t in tasks))
    record_outbox_events(
        topic=Topic.TASK_CREATED, items=[(t.account_id, t.pk) for t in tasks], at=now
    )
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
        queue_notifications(
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
