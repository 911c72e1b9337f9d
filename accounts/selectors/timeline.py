"""An account's timeline: what happened on it (feedback, band changes, tasks, outcomes,
contacts), newest first, filtered by kind and read a page at a time, and the events its
charts mark."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet

from accounts.models import Account, Activity, Feedback

PAGE_SIZE = 25
CURSOR_SEPARATOR = "~"


@dataclass(frozen=True)
class TimelineFilter:
    key: str
    label: str
    where: Q | None  # None: every entry
    score_moves: bool  # whether the score's own moves (from history) belong in it


_CONVERSATIONS = [Feedback.Kind.CALL, Feedback.Kind.MEETING]
TIMELINE_FILTERS = (
    TimelineFilter("", "All", None, True),
    TimelineFilter(
        "calls",
        "Calls & meetings",
        Q(kind=Activity.Kind.FEEDBACK, feedback__kind__in=_CONVERSATIONS),
        False,
    ),
    TimelineFilter(
        "feedback",
        "Notes & surveys",
        Q(kind=Activity.Kind.FEEDBACK) & ~Q(feedback__kind__in=_CONVERSATIONS),
        False,
    ),
    TimelineFilter(
        "score", "Score", Q(kind__in=[Activity.Kind.BAND_CHANGED, Activity.Kind.OVERRIDE]), True
    ),
    TimelineFilter(
        "tasks",
        "Tasks & plans",
        Q(
            kind__in=[
                Activity.Kind.TASK_CREATED,
                Activity.Kind.TASK_UPDATED,
                Activity.Kind.TASK_COMPLETED,
                Activity.Kind.PLAYBOOK_FIRED,
                Activity.Kind.PLAN,
            ]
        ),
        False,
    ),
    TimelineFilter(
        "account",
        "Account & contacts",
        Q(
            kind__in=[
                Activity.Kind.OWNER_CHANGED,
                Activity.Kind.ACCOUNT,
                Activity.Kind.OUTCOME,
                Activity.Kind.CONTACT,
            ]
        ),
        False,
    ),
)
FILTERS_BY_KEY = {f.key: f for f in TIMELINE_FILTERS}


class BadTimelineQuery(ValueError):
    """A filter or page link that does not exist; the message says which."""


@dataclass(frozen=True)
class Cursor:
    """Where a page starts: entries strictly older than (occurred_at, id)."""

    occurred_at: dt.datetime
    id: int

    def encode(self) -> str:
        return f"{self.occurred_at.isoformat()}{CURSOR_SEPARATOR}{self.id}"

    @classmethod
    def decode(cls, raw: str) -> Cursor:
        at, sep, pk = raw.rpartition(CURSOR_SEPARATOR)
        try:
            when = dt.datetime.fromisoformat(at)
            if not sep or when.tzinfo is None or not pk.isdigit():
                raise ValueError
        except ValueError:
            raise BadTimelineQuery(
                f"The page link {raw!r} is not one this timeline made; start from the newest."
            ) from None
        return cls(when, int(pk))


@dataclass(frozen=True)
class TimelinePage:
    entries: list[Any]  # Activity rows and score moves (dicts with occurred_at/kind/summary)
    next_cursor: str  # "" on the last page


def timeline_filter(key: str) -> TimelineFilter:
    if key not in FILTERS_BY_KEY:
        names = ", ".join(repr(k) for k in FILTERS_BY_KEY if k)
        raise BadTimelineQuery(f"There is no timeline filter {key!r}; use one of {names}.")
    return FILTERS_BY_KEY[key]


def _entry_time(entry: Any) -> dt.datetime:
    return entry["occurred_at"] if isinstance(entry, dict) else entry.occurred_at


def timeline_page(
    account: Account,
    *,
    kind: str = "",
    before: str = "",
    score_moves: Sequence[dict[str, Any]] = (),
    size: int = PAGE_SIZE,
) -> TimelinePage:
    """One page of the timeline, newest first: ``size`` activity rows older than the
    ``before`` cursor (one indexed query), with the score's own moves (``score_moves``,
    read from history by the caller) that fall between this page's oldest row and the
    cursor merged in (on the last page, all older ones). Raises ``BadTimelineQuery``."""
    chosen = timeline_filter(kind)
    cursor = Cursor.decode(before) if before else None
    qs: QuerySet[Activity] = Activity.objects.filter(account=account)
    if chosen.where is not None:
        qs = qs.filter(chosen.where)
    if cursor is not None:
        qs = qs.filter(
            Q(occurred_at__lt=cursor.occurred_at)
            | Q(occurred_at=cursor.occurred_at, id__lt=cursor.id)
        )
    rows = list(qs.select_related("actor").order_by("-occurred_at", "-id")[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    entries: list[Any] = list(rows)
    if chosen.score_moves:
        newest = cursor.occurred_at if cursor else None
        oldest = rows[-1].occurred_at if more else None
        entries += [
            m
            for m in score_moves
            if (newest is None or m["occurred_at"] < newest)
            and (oldest is None or m["occurred_at"] >= oldest)
        ]
    entries.sort(key=_entry_time, reverse=True)
    next_cursor = Cursor(rows[-1].occurred_at, rows[-1].pk).encode() if more else ""
    return TimelinePage(entries=entries, next_cursor=next_cursor)


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
