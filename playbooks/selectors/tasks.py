"""Tasks as people see them: the queue grouped by due date, a team's load, an account's
open tasks, a task's history, the global search's task matches."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Avg, Case, Count, F, Min, Q, QuerySet, When
from django.http import Http404

from accounts.models import Account, HealthBand, Role, User
from accounts.selectors.access import can_reassign_work, visible_accounts, visible_users
from playbooks.models import ACTIVE_STATUSES, Task, TaskEvent, TaskStatus


def visible_tasks(user: User) -> QuerySet[Task]:
    if not user.is_authenticated or not user.is_active:
        return Task.objects.none()
    if user.is_admin:
        return Task.objects.all()
    accounts = visible_accounts(user).values("pk")
    people = visible_users(user).values("pk")
    return Task.objects.filter(Q(account__in=accounts) | Q(assignee__in=people))


def get_task_for_user(user: User, pk: int) -> Task:
    try:
        return visible_tasks(user).select_related("account__owner", "assignee").get(pk=pk)
    except Task.DoesNotExist:
        raise Http404("No such task.") from None


def can_reassign(user: User) -> bool:
    return can_reassign_work(user)


@dataclass
class TaskGroup:
    key: str
    label: str
    tasks: list[Task] = field(default_factory=list)


def accounts_together(tasks: list[Task]) -> list[Task]:
    """Tasks of the same account moved next to that account's first (most urgent) task,
    keeping the order otherwise: related work on one account is read, and often closed,
    together instead of turning up five times across the list."""
    first: dict[int, int] = {}
    for position, task in enumerate(tasks):
        first.setdefault(task.account_id, position)
    return sorted(tasks, key=lambda task: first[task.account_id])  # stable


QUEUE_LIMIT = 200  # rows per render (a page stays fast); filters narrow a bigger queue


def task_queue(
    user: User,
    *,
    today: dt.date,
    scope: str = "mine",
    status: str = TaskStatus.OPEN,
    assignee: str = "",
    playbook: int | None = None,
    q: str = "",
) -> dict[str, Any]:
    """The queue grouped Overdue / Today / This week / Later (by due date; no date = Later);
    inside a group, the tasks of one account sit together (see ``accounts_together``)."""
    qs = visible_tasks(user).select_related("account", "assignee", "playbook")
    if scope == "mine" or not can_reassign(user):
        qs = qs.filter(assignee=user)
    if assignee:
        qs = qs.filter(assignee__username=assignee)
    if status:
        qs = qs.filter(status=status)
    if playbook:
        qs = qs.filter(playbook_id=playbook)
    if q:
        qs = qs.filter(
            Q(title__icontains=q) | Q(account__name__icontains=q) | Q(account__external_id=q)
        )
    tasks = list(qs.order_by("due_date", "-priority", "pk")[:QUEUE_LIMIT])
    end_of_week = today + dt.timedelta(days=6 - today.weekday())
    groups = {
        "overdue": TaskGroup("overdue", "Overdue"),
        "today": TaskGroup("today", "Today"),
        "week": TaskGroup("week", "This week"),
        "later": TaskGroup("later", "Later"),
    }
    for task in tasks:
        due = task.due_date
        if status in ("", TaskStatus.OPEN, TaskStatus.SNOOZED) and due is not None:
            if due < today and task.status == TaskStatus.OPEN:
                key = "overdue"
            elif due <= today:
                key = "today"
            elif due <= end_of_week:
                key = "week"
            else:
                key = "later"
        else:
            key = "later"
        groups[key].tasks.append(task)
    for group in groups.values():
        group.tasks = accounts_together(group.tasks)
    return {
        "groups": list(groups.values()),
        "total": len(tasks),
        "truncated": len(tasks) == QUEUE_LIMIT,
    }


@dataclass(frozen=True)
class CsmLoad:
    user: User
    open: int
    overdue: int
    book_size: int
    book_avg_score: float | None
    book_red: int


def team_load(user: User, *, today: dt.date) -> list[CsmLoad]:
    """Each CSM's load for a manager (their team) or an admin (everyone). Two queries."""
    if not can_reassign(user):
        return []
    people = list(visible_users(user).filter(role=Role.CSM).order_by("username"))
    ids = [p.pk for p in people]
    # Rows of .values().annotate(), read by key below with a default for a CSM without any.
    tasks: dict[int, Mapping[str, Any]] = {
        r["assignee_id"]: r
        for r in Task.objects.filter(assignee_id__in=ids, status__in=ACTIVE_STATUSES)
        .values("assignee_id")
        .annotate(
            open=Count("id"),
            overdue=Count("id", filter=Q(status=TaskStatus.OPEN, due_date__lt=today)),
        )
        .order_by()
    }
    books: dict[int, Mapping[str, Any]] = {
        r["owner_id"]: r
        for r in Account.objects.filter(owner_id__in=ids)
        .values("owner_id")
        .annotate(
            n=Count("id"),
            avg=Avg("health_score"),
            red=Count("id", filter=Q(health_band=HealthBand.RED)),
        )
        .order_by()
    }
    out = []
    for p in people:
        t = tasks.get(p.pk, {})
        b = books.get(p.pk, {})
        avg = b.get("avg")
        out.append(
            CsmLoad(
                user=p,
                open=t.get("open", 0),
                overdue=t.get("overdue", 0),
                book_size=b.get("n", 0),
                book_avg_score=round(avg, 1) if avg is not None else None,
                book_red=b.get("red", 0),
            )
        )
    return out


def account_open_tasks(account: Account) -> list[Task]:
    return list(
        account.tasks.filter(status__in=ACTIVE_STATUSES)
        .select_related("assignee", "playbook")
        .order_by("due_date", "pk")
    )


@dataclass(frozen=True)
class HistoryLine:
    """One task event with its from/to values in words."""

    event: TaskEvent
    before: str
    after: str


def task_history(task: Task) -> list[HistoryLine]:
    """The task's events, oldest first, with ``before`` and ``after`` in words: the rows
    keep usernames and status keys (stable, what the API speaks), a person reads full
    names and status labels. One query for the events, one for the people named."""
    events = list(task.events.select_related("actor"))
    people_kinds = (TaskEvent.Kind.CREATED, TaskEvent.Kind.REASSIGNED)
    people = {v for e in events if e.kind in people_kinds for v in (e.from_value, e.to_value)}
    people.discard("")
    names = {u.username: u.display_name for u in User.objects.filter(username__in=people)}
    words: dict[str, str] = {}
    lines = []
    for e in events:
        if e.kind == TaskEvent.Kind.STATUS:
            words = dict(TaskStatus.choices)
        elif e.kind in people_kinds:
            words = names
        else:
            words = {}
        lines.append(
            HistoryLine(
                event=e,
                before=words.get(e.from_value, e.from_value),
                after=words.get(e.to_value, e.to_value),
            )
        )
    return lines


def task_counts_by_assignee(
    assignee_ids: Collection[int], *, today: dt.date
) -> dict[int, tuple[int, int]]:
    """(open, overdue) tasks per person, one grouped query."""
    if not assignee_ids:
        return {}
    rows = (
        Task.objects.filter(assignee_id__in=list(assignee_ids), status=TaskStatus.OPEN)
        .order_by()
        .values_list("assignee_id")
        .annotate(open=Count("pk"), overdue=Count("pk", filter=Q(due_date__lt=today)))
    )
    return {assignee: (n_open, n_overdue) for assignee, n_open, n_overdue in rows}


@dataclass(frozen=True)
class Overdue:
    count: int
    oldest_due: dt.date


def overdue_by_account(accounts: QuerySet[Account], *, today: dt.date) -> dict[int, Overdue]:
    """Open tasks past their due date per account of ``accounts`` (whoever they are assigned
    to), with the oldest due date. One grouped query."""
    rows = (
        Task.objects.filter(
            account__in=accounts.order_by().values("pk"),
            status=TaskStatus.OPEN,
            due_date__lt=today,
        )
        .order_by()
        .values_list("account_id")
        .annotate(n=Count("pk"), oldest=Min("due_date"))
    )
    return {pk: Overdue(n, oldest) for pk, n, oldest in rows}


def accounts_with_open_task(account_ids: Iterable[int], title: str) -> set[int]:
    """Of these accounts, those that already have an open or snoozed task with this title
    (a bulk "create tasks" skips them rather than adding a duplicate)."""
    return set(
        Task.objects.filter(
            account_id__in=list(account_ids),
            title=title,
            status__in=ACTIVE_STATUSES,
        ).values_list("account_id", flat=True)
    )


def search_tasks(user: User, text: str, *, limit: int) -> list[Task]:
    """Tasks in the user's scope whose title contains ``text``: open ones first, then by
    due date (the global search)."""
    return list(
        visible_tasks(user)
        .filter(title__icontains=text)
        .select_related("account", "assignee")
        .order_by(
            Case(When(status=TaskStatus.OPEN, then=0), default=1),
            F("due_date").asc(nulls_last=True),
            "pk",
        )[:limit]
    )
