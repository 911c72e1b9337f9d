"""An account's timeline: what happened on it (feedback, band changes, tasks, outcomes),
newest first, and the events its charts mark."""

from __future__ import annotations

import datetime as dt

from accounts.models import Account, Activity


def timeline(account: Account, *, limit: int = 40) -> list[Activity]:
    return list(
        Activity.objects.filter(account=account)
        .select_related("actor")
        .order_by("-occurred_at", "-id")[:limit]
    )


def chart_markers(account: Account, *, since: dt.datetime) -> list[tuple[str, dt.datetime, str]]:
    """(kind, when, label) for feedback, tasks and outcomes since ``since``; one query over
    the timeline, which services write in the same transaction as the change."""
    kinds: dict[str, str] = {
        Activity.Kind.FEEDBACK: "feedback",
        Activity.Kind.TASK_CREATED: "task",
        Activity.Kind.TASK_COMPLETED: "task",
        Activity.Kind.OUTCOME: "outcome",
    }
    rows = (
        Activity.objects.filter(account=account, kind__in=list(kinds), occurred_at__gte=since)
        .order_by("occurred_at")
        .values_list("kind", "occurred_at", "summary")[:500]
    )
    return [(kinds[kind], at, summary) for kind, at, summary in rows]
