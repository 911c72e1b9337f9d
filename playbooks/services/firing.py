"""Firing playbooks: from score events, on the beat sweep, and by hand.

``process_score_events`` is how score changes and detractor feedback reach the playbooks:
it claims unprocessed ``ScoreEvent`` rows from scoring's outbox (``SKIP LOCKED``), closes
the tasks whose trigger stopped holding (``services.autoclose``), fires the playbooks they
trigger and marks the events processed, all in one transaction: a
worker that dies half-way leaves the events to the next run (the beat sweep runs it every
20 s), and nothing fires twice.

Duplicate tasks are impossible by construction: a firing inserts its first task with
``ON CONFLICT DO NOTHING`` against the partial unique index on (playbook, account, step) for
open tasks (see ``playbooks.models``); a firing whose insert was dropped is rolled back
(its run row deleted) so the run log only holds firings that happened."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Collection, Sequence

from django.db import transaction
from django.utils import timezone

from accounts.models import Activity, User
from accounts.services.audit import Action, ObjectType, record_audit
from chs_site.errors import ApplicationError
from playbooks import triggers
from playbooks.assignment import assignee_for, load_staff, template_values
from playbooks.models import (
    SCORE_TRIGGERS,
    TIME_TRIGGERS,
    Notification,
    Playbook,
    PlaybookAction,
    PlaybookRun,
    Task,
    TaskEvent,
    TriggerType,
    render_template,
)
from playbooks.services.autoclose import close_resolved_tasks
from playbooks.services.notifications import queue_notifications
from playbooks.services.plans import start_plan_from_template
from playbooks.services.tasks import adjust_open_task_counts, open_delta
from playbooks.triggers import Match
from scoring.contracts import ScoreChange
from scoring.services.events import CLAIM_BATCH, claim_score_events, mark_processed

# Playbooks' name in settings.SCORE_EVENT_CONSUMERS.
CONSUMER = "playbooks"


def process_score_events(
    *,
    batch_size: int = CLAIM_BATCH,
    max_batches: int | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Claim score events batch by batch and fire what they trigger, until none is left
    (or ``max_batches`` are done); returns the tasks created. Each batch is one
    transaction: the claim (``FOR UPDATE SKIP LOCKED``, so workers side by side take
    different events), the firings and marking the events processed commit together or
    not at all."""
    created = 0
    batches = 0
    while max_batches is None or batches < max_batches:
        batches += 1
        with transaction.atomic():
            claimed = claim_score_events(CONSUMER, limit=batch_size)
            if not claimed:
                break
            moment = now or timezone.now()
            # Close first: a task whose trigger ended no longer blocks a fresh firing
            # beyond its cooldown, and the timeline reads "closed" before "fired".
            close_resolved_tasks(now=moment, account_ids={c.account_id for c in claimed.changes})
            created += evaluate_score_changes(changes=claimed.changes, now=moment)
            created += evaluate_feedback(
                account_ids={f.account_id for f in claimed.feedback}, now=moment
            )
            mark_processed(CONSUMER, ids=claimed.ids, now=moment)
    return created


def evaluate_score_changes(
    *, changes: Sequence[ScoreChange], now: dt.datetime | None = None
) -> int:
    """Fire enabled playbooks for a batch of committed score changes; returns tasks created.

    Score triggers (band entered, score drop, metric crossing) are matched against the
    changes; renewal and feedback triggers are checked for the changed accounts too, so a
    band change inside a renewal window acts within seconds instead of at the next sweep.
    An error (a deadlock, a dropped connection) propagates: the caller's transaction rolls
    back and the events are evaluated again (firing is idempotent)."""
    if not changes:
        return 0
    now = now or timezone.now()
    # The newest change per account wins if a batch holds several for one account.
    latest: dict[int, ScoreChange] = {}
    for change in changes:
        seen = latest.get(change.account_id)
        if seen is None or change.computed_at >= seen.computed_at:
            latest[change.account_id] = change
    batch = list(latest.values())
    created = 0
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
        created += fire(
            playbook=playbook, matches=matches, source=PlaybookRun.Source.SCORE_CHANGE, now=now
        )
    return created


def evaluate_time_triggers(*, now: dt.datetime | None = None) -> int:
    """The beat sweep: renewal windows, missing activity and negative feedback. Renewal
    tasks whose renewal passed or left the window close first (no score event tells)."""
    now = now or timezone.now()
    close_resolved_tasks(now=now, trigger_types={TriggerType.RENEWAL_WINDOW})
    created = 0
    for playbook in _enabled_playbooks():
        if playbook.trigger_type not in TIME_TRIGGERS:
            continue
        matches = triggers.match_state(playbook, now=now)
        created += fire(
            playbook=playbook, matches=matches, source=PlaybookRun.Source.SCHEDULE, now=now
        )
    return created


def evaluate_feedback(*, account_ids: Collection[int], now: dt.datetime | None = None) -> int:
    """Negative-feedback playbooks for accounts that just got detractor feedback (the
    five-minute sweep checks every account anyway)."""
    if not account_ids:
        return 0
    now = now or timezone.now()
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
    created = fire(playbook=playbook, matches=matches, source=PlaybookRun.Source.MANUAL, now=now)
    record_audit(
        action=Action.RUN,
        object_type=ObjectType.PLAYBOOK,
        obj=playbook,
        actor=actor,
        changes={"tasks created": [None, created]},
    )
    return created


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
    adjust_open_task_counts(changes=((t.account_id, open_delta(None, t.status)) for t in tasks))
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
        queue_notifications(notifications)
    return len(tasks)
