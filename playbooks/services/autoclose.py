"""Closing playbook tasks whose trigger no longer holds ("closed by itself").

For a playbook with ``auto_close`` on, an open or snoozed task of it resolves when, for
its account now:

- ``band_entered``: the account's band is another band (an account without a score
  keeps the task: no data is not a recovery);
- ``score_drop``: the computed score is back at or above the high the drop was measured
  from (the ``peak`` its firing recorded): the points lost are regained;
- ``metric_threshold``: the metric's aggregate over the playbook's window no longer meets
  the threshold (an aggregate without values keeps the task);
- ``renewal_window``: the renewal date passed, was cleared, or moved beyond the window.

Feedback and no-activity tasks are about something that happened, not a state that can
end, so they stay for a person. A resolved task gets status ``resolved`` (never ``done``:
nobody did the work), a history row, one timeline line saying why, and its notifications
are marked resolved. Safe to run twice or side by side: the tasks are locked and
re-checked as still active, so a second run finds nothing left to close.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Collection

from django.db import transaction
from django.db.models import prefetch_related_objects
from django.utils import timezone

from accounts.models import Activity
from playbooks import triggers
from playbooks.models import (
    ACTIVE_STATUSES,
    Notification,
    Playbook,
    Task,
    TaskEvent,
    TaskStatus,
    ThresholdDirection,
    TriggerType,
)
from playbooks.services.tasks import adjust_open_task_counts, open_delta
from scoring.models import MetricValue

# Triggers whose condition is a state that can stop holding.
AUTO_CLOSE_TRIGGERS = frozenset(
    {
        TriggerType.BAND_ENTERED,
        TriggerType.SCORE_DROP,
        TriggerType.METRIC_THRESHOLD,
        TriggerType.RENEWAL_WINDOW,
    }
)


def close_resolved_tasks(
    *,
    now: dt.datetime | None = None,
    account_ids: Collection[int] | None = None,
    trigger_types: Collection[str] = AUTO_CLOSE_TRIGGERS,
) -> int:
    """Close the active tasks (of auto-closing playbooks with one of ``trigger_types``, on
    ``account_ids`` or every account) whose trigger no longer holds; returns how many."""
    now = now or timezone.now()
    with transaction.atomic():
        qs = Task.objects.filter(
            status__in=ACTIVE_STATUSES,
            playbook__auto_close=True,
            playbook__trigger_type__in=[t for t in trigger_types if t in AUTO_CLOSE_TRIGGERS],
        )
        if account_ids is not None:
            qs = qs.filter(account_id__in=list(account_ids))
        # Locked in id order (fewer deadlocks with a person closing tasks); PostgreSQL
        # re-checks the status filter after waiting, so a task a person closed meanwhile
        # drops out here instead of being closed twice.
        tasks = list(qs.select_for_update(of=("self",)).order_by("pk"))
        if not tasks:
            return 0
        # Loaded apart from the lock: the locking query touches only the task rows.
        prefetch_related_objects(tasks, "playbook__metric", "run", "account")
        by_playbook: dict[int, list[Task]] = defaultdict(list)
        for task in tasks:
            assert task.playbook_id is not None
            by_playbook[task.playbook_id].append(task)
        reasons: dict[int, str] = {}
        for group in by_playbook.values():
            playbook = group[0].playbook
            assert playbook is not None
            reasons.update(_resolved_reasons(playbook, group, now))
        closing = [t for t in tasks if t.pk in reasons]
        if closing:
            _close(closing, reasons, now)
        return len(closing)


def _resolved_reasons(playbook: Playbook, tasks: list[Task], now: dt.datetime) -> dict[int, str]:
    """Task id → why its trigger no longer holds, for the tasks that resolved."""
    t = playbook.trigger_type
    out: dict[int, str] = {}
    if t == TriggerType.METRIC_THRESHOLD:
        return _metric_reasons(playbook, tasks, now)
    today = timezone.localdate(now)
    for task in tasks:
        account = task.account
        if t == TriggerType.BAND_ENTERED:
            band = account.health_band
            if band and band != playbook.band:
                out[task.pk] = f"{account.name} is {band} again{_score(account.health_score)}"
        elif t == TriggerType.SCORE_DROP:
            peak = (task.run.values or {}).get("peak") if task.run else None
            score = account.computed_score
            if peak is not None and score is not None and score >= peak:
                out[task.pk] = (
                    f"{account.name}'s score recovered to {score:.1f} "
                    f"(it had dropped from {peak:.1f})"
                )
        elif t == TriggerType.RENEWAL_WINDOW:
            renewal = account.renewal_date
            window_end = today + dt.timedelta(days=playbook.days or 0)
            if renewal is None:
                out[task.pk] = f"{account.name} has no renewal date any more"
            elif renewal < today:
                out[task.pk] = f"{account.name}'s renewal date {renewal:%Y-%m-%d} has passed"
            elif renewal > window_end:
                out[task.pk] = (
                    f"{account.name}'s renewal moved to {renewal:%Y-%m-%d}, "
                    f"beyond the {playbook.days}-day window"
                )
    return out


def _metric_reasons(playbook: Playbook, tasks: list[Task], now: dt.datetime) -> dict[int, str]:
    days = playbook.metric_window_days
    series: dict[int, list[tuple[dt.datetime, float]]] = defaultdict(list)
    for account_id, at, value in MetricValue.objects.filter(
        metric_id=playbook.metric_id,
        account_id__in={t.account_id for t in tasks},
        observed_at__gt=now - dt.timedelta(days=days),
        observed_at__lte=now,
    ).values_list("account_id", "observed_at", "value"):
        series[account_id].append((at, value))
    key = playbook.metric.key if playbook.metric else str(playbook.metric_id)
    word = "below" if playbook.threshold_direction == ThresholdDirection.BELOW else "above"
    out = {}
    for task in tasks:
        agg = triggers.aggregate(series[task.account_id], playbook.metric_aggregation)
        if agg is None or triggers.meets_threshold(playbook, agg):
            continue
        out[task.pk] = (
            f"{task.account.name}: {playbook.get_metric_aggregation_display().lower()} of "
            f"{key} is {agg:g}, no longer {word} {playbook.threshold:g}"
        )
    return out


def _score(score: float | None) -> str:
    return f" ({score:.1f})" if score is not None else ""


def _close(tasks: list[Task], reasons: dict[int, str], now: dt.datetime) -> None:
    old_status = {t.pk: t.status for t in tasks}
    for task in tasks:
        task.status = TaskStatus.RESOLVED
        task.closed_at = now
        task.snoozed_until = None
        task.outcome_note = f"Closed by itself: {reasons[task.pk]}"
        task.updated_at = now
    Task.objects.bulk_update(
        tasks, ["status", "closed_at", "snoozed_until", "outcome_note", "updated_at"]
    )
    adjust_open_task_counts(
        changes=((t.account_id, open_delta(old_status[t.pk], t.status)) for t in tasks)
    )
    TaskEvent.objects.bulk_create(
        [
            TaskEvent(
                task=t,
                kind=TaskEvent.Kind.STATUS,
                occurred_at=now,
                from_value=old_status[t.pk],
                to_value=TaskStatus.RESOLVED,
                note=reasons[t.pk],
            )
            for t in tasks
        ]
    )
    Activity.objects.bulk_create(
        [
            Activity(
                account_id=t.account_id,
                kind=Activity.Kind.TASK_UPDATED,
                occurred_at=now,
                summary=t.outcome_note[:300],
                details={
                    "task": t.pk,
                    "title": t.title,
                    "status": TaskStatus.RESOLVED,
                    "playbook": t.playbook_id,
                },
            )
            for t in tasks
        ]
    )
    # The news is over: resolved, read, and kept out of a pending email or digest.
    ids = [t.pk for t in tasks]
    unresolved = Notification.objects.filter(task_id__in=ids, resolved_at__isnull=True)
    unresolved.filter(read_at__isnull=True).update(resolved_at=now, read_at=now)
    unresolved.update(resolved_at=now)
    Notification.objects.filter(
        task_id__in=ids,
        email_status__in=[Notification.Delivery.PENDING, Notification.Delivery.DIGEST],
    ).update(email_status=Notification.Delivery.SKIPPED)
