"""Playbooks as admins and managers see them: the list, what one would do right now
(its preview), what publishing a scorecard would make them do, its runs and whether its
tasks helped."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet
from django.http import Http404

from accounts.models import Account, HealthBand, Role, User
from playbooks import triggers
from playbooks.assignment import assignee_for, load_staff, template_values
from playbooks.models import (
    ACTIVE_STATUSES,
    SCORE_TRIGGERS,
    Playbook,
    PlaybookAction,
    PlaybookRun,
    Task,
    TaskStatus,
    render_template,
)
from scoring.contracts import ScoreChange
from scoring.models import Score


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


@dataclass(frozen=True)
class PlaybookEffect:
    playbook_id: int
    name: str
    trigger: str
    accounts: int
    tasks: int


def publish_effects(changes: Sequence[ScoreChange], *, at: dt.datetime) -> list[PlaybookEffect]:
    """Per enabled score-triggered playbook: the accounts it would fire for and the tasks
    it would create if these score changes were committed (a scorecard's what-if preview
    passes the changes its draft would make). The same trigger matching and blocking rules
    as a real firing; nothing is written."""
    playbooks = list(
        Playbook.objects.filter(enabled=True, trigger_type__in=SCORE_TRIGGERS)
        .select_related("metric")
        .prefetch_related("teams", "actions")
        .order_by("name")
    )
    out = []
    by_account = {c.account_id: c for c in changes}
    for playbook in playbooks:
        if by_account:
            eligible = set(
                triggers.eligible_accounts(playbook, by_account).values_list("pk", flat=True)
            )
            matches = triggers.match_changes(
                playbook, [c for c in changes if c.account_id in eligible]
            )
            blocked = triggers.blocked_account_ids(playbook, matches, at)
            firing = [m for m in matches if m.account_id not in blocked]
        else:
            firing = []
        per_account = sum(
            1 for a in playbook.actions.all() if a.kind == PlaybookAction.Kind.CREATE_TASK
        )
        out.append(
            PlaybookEffect(
                playbook_id=playbook.pk,
                name=playbook.name,
                trigger=playbook.get_trigger_type_display(),
                accounts=len(firing),
                tasks=len(firing) * per_account,
            )
        )
    return out
