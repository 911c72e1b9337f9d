"""Playbooks as admins and managers see them: the list, what one would do right now
(its preview), what publishing a scorecard would make them do, its runs and whether its
tasks helped."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

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


@dataclass(frozen=True)
class TemplateSample:
    """One real account to fill a playbook's templates with, and whether the playbook (as
    edited) matches it right now or it only meets the conditions."""

    account: Account
    matches: bool
    reason: str
    values: dict[str, Any]


def template_sample(
    playbook: Playbook, *, now: dt.datetime, team_ids: Sequence[int]
) -> TemplateSample | None:
    """The editor's preview account: the first the playbook, possibly unsaved, would fire
    for now, with that firing's values; else the first meeting its conditions
    (values from its current state); None when no account meets them. ``team_ids`` are the
    teams as edited."""
    matches = triggers.match_state(playbook, now=now, team_ids=team_ids)
    if matches:
        # The oldest matching account: stable while the admin types, one row to read.
        match = min(matches, key=lambda m: m.account_id)
        account = Account.objects.select_related("owner").get(pk=match.account_id)
        return TemplateSample(
            account, True, match.reason, template_values(account, match, now.date())
        )
    eligible = (
        triggers.eligible_accounts(playbook, team_ids=team_ids)
        .select_related("owner")
        .order_by("pk")
        .first()
    )
    if eligible is None:
        return None
    values = template_values(eligible, triggers.Match(eligible.pk, ""), now.date())
    return TemplateSample(eligible, False, "", values)


def playbook_runs(playbook: Playbook, *, limit: int = 50) -> list[PlaybookRun]:
    return list(
        playbook.runs.select_related("account").prefetch_related(
            Prefetch("tasks", queryset=Task.objects.select_related("assignee"))
        )[:limit]
    )


@dataclass(frozen=True)
class EffectShare:
    """Of ``eligible`` firings in one group, ``improved`` reached a better band."""

    eligible: int
    improved: int

    @property
    def pct(self) -> int | None:
        return round(100 * self.improved / self.eligible) if self.eligible else None


@dataclass(frozen=True)
class EffectRow:
    """One window: firings whose task a person completed, whose task closed by itself
    (its trigger stopped holding, see ``services/autoclose.py``), and the rest (open,
    snoozed or cancelled)."""

    days: int
    done: EffectShare
    resolved: EffectShare
    other: EffectShare

    @property
    def shares(self) -> tuple[EffectShare, EffectShare, EffectShare]:
        return (self.done, self.resolved, self.other)


EFFECT_WINDOWS = (30, 60, 90)
BAND_RANK = triggers.BAND_RANK
_EFFECT_GROUPS = ("done", "resolved", "other")


def playbook_effectiveness(playbook: Playbook, *, now: dt.datetime) -> list[EffectRow]:
    """Of the accounts it fired for (red or yellow then), how many reached a better band
    within 30/60/90 days: where a person completed its task, where the task closed by
    itself, and where neither (a firing with both counts as completed by a person). A
    task that closed by itself did so because the account recovered, so counting it as
    "not completed" would credit doing nothing. Only firings at least N days old count
    for window N."""
    run_tasks = Task.objects.filter(run=OuterRef("pk"))
    runs = list(
        playbook.runs.filter(band_at_firing__in=[HealthBand.RED, HealthBand.YELLOW])
        .annotate(
            done=Exists(run_tasks.filter(status=TaskStatus.DONE)),
            resolved=Exists(run_tasks.filter(status=TaskStatus.RESOLVED)),
        )
        .values("account_id", "fired_at", "band_at_firing", "done", "resolved")
    )
    empty = EffectShare(0, 0)
    if not runs:
        return [EffectRow(d, empty, empty, empty) for d in EFFECT_WINDOWS]
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
        tally = {group: [0, 0] for group in _EFFECT_GROUPS}
        for r in runs:
            end = r["fired_at"] + dt.timedelta(days=days)
            if end > now:
                continue
            rank = BAND_RANK[r["band_at_firing"]]
            improved = any(
                r["fired_at"] < at <= end and BAND_RANK.get(band, -1) > rank
                for at, band in scores[r["account_id"]]
            )
            group = "done" if r["done"] else "resolved" if r["resolved"] else "other"
            tally[group][0] += 1
            tally[group][1] += int(improved)
        out.append(EffectRow(days, *(EffectShare(*tally[g]) for g in _EFFECT_GROUPS)))
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
