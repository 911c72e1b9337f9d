"""Reads of the playbooks app, scoped by role through ``accounts.selectors``.

Tasks: a CSM sees the tasks on their book and the tasks assigned to them; a manager the
tasks on their team's accounts and those assigned to their team; an admin all. Anything
else is a 404 (``get_task_for_user``)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Avg, Count, Exists, OuterRef, Prefetch, Q, QuerySet
from django.http import Http404

from accounts.models import Account, HealthBand, Role, User
from accounts.selectors import visible_accounts, visible_users
from playbooks import triggers
from playbooks.assignment import assignee_for, load_staff, template_values
from playbooks.models import (
    ACTIVE_STATUSES,
    Milestone,
    Notification,
    Objective,
    Playbook,
    PlaybookAction,
    PlaybookRun,
    SuccessPlan,
    Task,
    TaskStatus,
    render_template,
)
from scoring.models import MetricValue, Score

# --- tasks ----------------------------------------------------------------------------------


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
    return user.is_admin or user.role == Role.MANAGER


@dataclass
class TaskGroup:
    key: str
    label: str
    tasks: list[Task] = field(default_factory=list)


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
    """The queue grouped Overdue / Today / This week / Later (by due date; no date = Later)."""
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
    tasks = {
        r["assignee_id"]: r
        for r in Task.objects.filter(assignee_id__in=ids, status__in=ACTIVE_STATUSES)
        .values("assignee_id")
        .annotate(
            open=Count("id"),
            overdue=Count("id", filter=Q(status=TaskStatus.OPEN, due_date__lt=today)),
        )
        .order_by()
    }
    books = {
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


def overdue_milestones(user: User, *, today: dt.date, mine_only: bool = True) -> list[Milestone]:
    accounts = visible_accounts(user)
    if mine_only:
        accounts = accounts.filter(owner=user)
    return list(
        Milestone.objects.filter(
            status=Milestone.Status.PLANNED,
            due_date__lt=today,
            plan__status=SuccessPlan.Status.ACTIVE,
            plan__account__in=accounts.values("pk"),
        )
        .select_related("plan__account")
        .order_by("due_date", "pk")[:100]
    )


def account_open_tasks(account: Account) -> list[Task]:
    return list(
        account.tasks.filter(status__in=ACTIVE_STATUSES)
        .select_related("assignee", "playbook")
        .order_by("due_date", "pk")
    )


def task_history(task: Task) -> list[Any]:
    return list(task.events.select_related("actor"))


# --- bulk outreach --------------------------------------------------------------------------

OUTREACH_MAX = 1000


def outreach_accounts(actor: User, *, spec: Any, today: dt.date) -> list[Account]:
    from chs_site.errors import ApplicationError

    qs = visible_accounts(actor).select_related("owner")
    if spec.band:
        qs = qs.filter(health_band=spec.band)
    if spec.segment:
        qs = qs.filter(segment=spec.segment)
    if spec.renewal_within_days is not None:
        qs = qs.filter(
            renewal_date__gte=today,
            renewal_date__lte=today + dt.timedelta(days=spec.renewal_within_days),
        )
    if spec.score_drop_at_least is not None:
        qs = qs.filter(score_change_30d__lte=-spec.score_drop_at_least)
    accounts = list(qs.order_by("name", "pk")[: OUTREACH_MAX + 1])
    if len(accounts) > OUTREACH_MAX:
        raise ApplicationError(
            f"More than {OUTREACH_MAX} accounts match; narrow the filters (band, segment, "
            "renewal window or score drop)."
        )
    return accounts


# --- playbooks ------------------------------------------------------------------------------


def visible_playbooks(user: User) -> QuerySet[Playbook]:
    """Managers read playbooks, admins edit them; CSMs do not see them (404)."""
    if user.is_admin or user.role == Role.MANAGER:
        return Playbook.objects.all()
    return Playbook.objects.none()


def get_playbook_for_user(user: User, pk: int) -> Playbook:
    try:
        return (
            visible_playbooks(user)
            .select_related("metric")
            .prefetch_related("teams", "actions__assignee_user", "actions__plan_template")
            .get(pk=pk)
        )
    except Playbook.DoesNotExist:
        raise Http404("No such playbook.") from None


def playbook_list(user: User) -> list[Playbook]:
    return list(
        visible_playbooks(user)
        .select_related("metric")
        .annotate(
            open_tasks=Count("tasks", filter=Q(tasks__status__in=ACTIVE_STATUSES), distinct=True),
            run_count=Count("runs", distinct=True),
        )
        .order_by("name")
    )


@dataclass(frozen=True)
class PreviewTask:
    title: str
    assignee: User | None
    due_date: dt.date


@dataclass(frozen=True)
class PreviewRow:
    account: Account
    reason: str
    tasks: list[PreviewTask]
    notify: list[User]


@dataclass(frozen=True)
class Preview:
    matched: int
    blocked: int
    firing: int
    rows: list[PreviewRow]
    by_assignee: list[tuple[str, int]]


def preview_playbook(playbook: Playbook, *, now: dt.datetime, limit: int = 200) -> Preview:
    """Right now this playbook would fire for these accounts, creating these tasks for these
    people. Reads only: the round-robin turn advances on throw-away action copies."""
    matches = triggers.match_state(playbook, now=now)
    blocked = triggers.blocked_account_ids(playbook, matches, now)
    firing = [m for m in matches if m.account_id not in blocked]
    staff = load_staff(m.account_id for m in firing)
    actions = list(PlaybookAction.objects.filter(playbook=playbook).select_related("assignee_user"))
    today = now.date()
    rows = []
    counts: dict[str, int] = defaultdict(int)
    for m in sorted(firing, key=lambda m: staff.accounts[m.account_id].name):
        account = staff.accounts[m.account_id]
        values = template_values(account, m, today)
        tasks, notify = [], []
        for action in actions:
            who = assignee_for(action, account, staff)
            if action.kind == PlaybookAction.Kind.CREATE_TASK:
                tasks.append(
                    PreviewTask(
                        render_template(action.title_template, values),
                        who,
                        today + dt.timedelta(days=action.due_in_days),
                    )
                )
                counts[who.display_name if who else "Unassigned"] += 1
            elif action.kind == PlaybookAction.Kind.NOTIFY and who:
                notify.append(who)
        rows.append(PreviewRow(account, m.reason, tasks, notify))
    return Preview(
        matched=len(matches),
        blocked=len(blocked),
        firing=len(rows),
        rows=rows[:limit],
        by_assignee=sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])),
    )


def playbook_runs(playbook: Playbook, *, limit: int = 50) -> list[PlaybookRun]:
    return list(
        playbook.runs.select_related("account").prefetch_related(
            Prefetch("tasks", queryset=Task.objects.select_related("assignee"))
        )[:limit]
    )


@dataclass(frozen=True)
class EffectRow:
    days: int
    done_eligible: int
    done_improved: int
    other_eligible: int
    other_improved: int

    @staticmethod
    def pct(k: int, n: int) -> int | None:
        return round(100 * k / n) if n else None

    @property
    def done_pct(self) -> int | None:
        return self.pct(self.done_improved, self.done_eligible)

    @property
    def other_pct(self) -> int | None:
        return self.pct(self.other_improved, self.other_eligible)


EFFECT_WINDOWS = (30, 60, 90)
BAND_RANK = triggers.BAND_RANK


def playbook_effectiveness(playbook: Playbook, *, now: dt.datetime) -> list[EffectRow]:
    """Of the accounts it fired for (red or yellow then), how many reached a better band
    within 30/60/90 days — where its task was completed against where it was not (still
    open, snoozed or cancelled). Only firings at least N days old count for window N."""
    runs = list(
        playbook.runs.filter(band_at_firing__in=[HealthBand.RED, HealthBand.YELLOW])
        .annotate(done=Exists(Task.objects.filter(run=OuterRef("pk"), status=TaskStatus.DONE)))
        .values("account_id", "fired_at", "band_at_firing", "done")
    )
    if not runs:
        return [EffectRow(d, 0, 0, 0, 0) for d in EFFECT_WINDOWS]
    start = min(r["fired_at"] for r in runs)
    scores: dict[int, list[tuple[dt.datetime, str]]] = defaultdict(list)
    for account_id, at, band in Score.objects.filter(
        account_id__in={r["account_id"] for r in runs},
        computed_at__gt=start,
        computed_at__lte=now,
    ).values_list("account_id", "computed_at", "band"):
        scores[account_id].append((at, band))
    out = []
    for days in EFFECT_WINDOWS:
        tally = {True: [0, 0], False: [0, 0]}
        for r in runs:
            if r["fired_at"] + dt.timedelta(days=days) > now:
                continue
            end = r["fired_at"] + dt.timedelta(days=days)
            rank = BAND_RANK[r["band_at_firing"]]
            improved = any(
                r["fired_at"] < at <= end and BAND_RANK.get(band, -1) > rank
                for at, band in scores[r["account_id"]]
            )
            tally[bool(r["done"])][0] += 1
            tally[bool(r["done"])][1] += int(improved)
        out.append(
            EffectRow(days, tally[True][0], tally[True][1], tally[False][0], tally[False][1])
        )
    return out


# --- success plans --------------------------------------------------------------------------


@dataclass(frozen=True)
class ObjectiveView:
    objective: Objective
    current: float | None
    progress: int


def objective_progress(objective: Objective, current: float | None) -> int:
    """Percent from baseline to target, from the metric's latest value (clamped 0–100);
    hand-set for objectives without a metric."""
    if objective.metric_id is None or objective.target is None:
        return objective.manual_progress
    if current is None:
        return 0
    base = objective.baseline if objective.baseline is not None else 0.0
    if objective.target == base:
        return 100 if current == objective.target else 0
    share = (current - base) / (objective.target - base)
    return max(0, min(100, round(share * 100)))


def account_success_plans(account: Account) -> list[tuple[SuccessPlan, list[ObjectiveView]]]:
    plans = list(
        account.success_plans.exclude(status=SuccessPlan.Status.CANCELLED).prefetch_related(
            Prefetch("objectives", queryset=Objective.objects.select_related("metric")),
            "milestones",
        )
    )
    metric_ids = {o.metric_id for p in plans for o in p.objectives.all() if o.metric_id}
    latest: dict[int, float] = {}
    if metric_ids:
        seen: set[int] = set()
        for metric_id, value in (
            MetricValue.objects.filter(account=account, metric_id__in=metric_ids)
            .order_by("metric_id", "-observed_at")
            .values_list("metric_id", "value")
        ):
            if metric_id not in seen:
                seen.add(metric_id)
                latest[metric_id] = value
    return [
        (
            plan,
            [
                ObjectiveView(
                    o,
                    latest.get(o.metric_id) if o.metric_id else None,
                    objective_progress(o, latest.get(o.metric_id) if o.metric_id else None),
                )
                for o in plan.objectives.all()
            ],
        )
        for plan in plans
    ]


def get_plan_for_user(user: User, pk: int) -> SuccessPlan:
    try:
        return SuccessPlan.objects.select_related("account").get(
            pk=pk, account__in=visible_accounts(user).values("pk")
        )
    except SuccessPlan.DoesNotExist:
        raise Http404("No such plan.") from None


# --- notifications ----------------------------------------------------------------------------


def unread_count(user: User) -> int:
    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()


def notifications_for(user: User, *, limit: int = 100) -> list[Notification]:
    return list(Notification.objects.filter(recipient=user).select_related("account")[:limit])
