"""The events CHS sends, their payloads (documented and versioned) and an example of each.

Every payload is an envelope::

    {"id": "evt_…", "type": "task.created", "version": 1,
     "created_at": "2026-12-04T09:30:00+00:00", "data": {…}}

``id`` is stable (the ``webhook-id`` header, the same on every retry and replay: receivers
deduplicate on it). ``data`` names the account by its CHS id, external id (the CRM's),
name and a link into CHS, and carries only what the change is about: scores, bands, task
ids, titles and assignees' usernames; never an email address, a contact or a note body.
An endpoint receives only events about accounts its owner may see (an admin: all).

A new field may appear in ``data`` without a new version; a field removed or changed in
meaning raises ``version``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import models
from django.urls import reverse

from accounts.models import Account, ImportJob, OutboxEvent
from playbooks.models import PlaybookRun, Task
from scoring.contracts import ScoreChange
from scoring.models import Outcome

VERSION = 1


class EventType(models.TextChoices):
    BAND_CHANGED = "account.band_changed", "An account's health band changed"
    SCORE_CHANGED = "account.score_changed", "An account's computed score changed"
    TASK_CREATED = "task.created", "A task was created"
    TASK_COMPLETED = "task.completed", "A task was completed"
    OUTCOME_RECORDED = "outcome.recorded", "An outcome (renewal, churn…) was recorded"
    PLAYBOOK_FIRED = "playbook.fired", "A playbook fired for an account"
    IMPORT_FINISHED = "import.finished", "A CSV import finished"


# Sent by "Send a test" on the Webhooks page only; nobody subscribes to it.
TEST_EVENT = "webhook.test"
SUBSCRIBABLE: tuple[str, ...] = tuple(EventType.values)


@dataclass(frozen=True)
class NewEvent:
    """An event on its way out: ``account_id`` decides who may receive it."""

    event_id: str
    type: str
    account_id: int | None
    data: dict[str, Any]
    created_at: dt.datetime

    def payload(self) -> dict[str, Any]:
        return {
            "id": self.event_id,
            "type": self.type,
            "version": VERSION,
            "created_at": self.created_at.isoformat(),
            "data": self.data,
        }


def link(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


def _account(account: Account) -> dict[str, Any]:
    return {
        "id": account.pk,
        "external_id": account.external_id,
        "name": account.name,
        "url": link(account.get_absolute_url()),
    }


def _stamp(at: dt.datetime) -> int:
    return int(at.timestamp() * 1_000_000)


def from_score_changes(changes: Sequence[ScoreChange]) -> list[NewEvent]:
    """``account.score_changed`` when the computed score moved, ``account.band_changed``
    when the band did (one change may give both)."""
    accounts = Account.objects.in_bulk({c.account_id for c in changes})
    out: list[NewEvent] = []
    for change in changes:
        account = accounts.get(change.account_id)
        if account is None:
            continue  # deleted since: nobody can be told about it
        data = {
            "account": _account(account),
            "score": change.score,
            "previous_score": change.previous_score,
            "band": change.band,
            "previous_band": change.previous_band,
            "computed_at": change.computed_at.isoformat(),
            "scorecard_id": change.scorecard_id,
            "changed_measures": list(change.breakdown or ()),
        }
        # The recompute writes at most one change per account and moment.
        key = f"evt_score_{change.account_id}_{_stamp(change.computed_at)}"
        if change.score != change.previous_score:
            out.append(
                NewEvent(f"{key}_s", EventType.SCORE_CHANGED, account.pk, data, change.computed_at)
            )
        if change.band != change.previous_band:
            out.append(
                NewEvent(f"{key}_b", EventType.BAND_CHANGED, account.pk, data, change.computed_at)
            )
    return out


def _task(task: Task) -> dict[str, Any]:
    return {
        "id": task.pk,
        "title": task.title,
        "status": task.status,
        "priority": task.priority,
        "due_date": task.due_date.isoformat() if task.due_date else None,
        "assignee": task.assignee.username if task.assignee else None,
        "playbook_id": task.playbook_id,
        "created_at": task.created_at.isoformat(),
        "closed_at": task.closed_at.isoformat() if task.closed_at else None,
        "url": link(reverse("playbooks:task_detail", args=[task.pk])),
    }


def from_outbox(rows: Iterable[OutboxEvent]) -> list[NewEvent]:
    """One event per outbox row whose object still exists, read in one query per kind."""
    rows = list(rows)
    ids: dict[str, set[int]] = {}
    for row in rows:
        ids.setdefault(row.topic, set()).add(row.object_id)
    task_ids = ids.get(EventType.TASK_CREATED, set()) | ids.get(EventType.TASK_COMPLETED, set())
    tasks = Task.objects.select_related("account", "assignee").in_bulk(task_ids)
    runs = PlaybookRun.objects.select_related("account", "playbook").in_bulk(
        ids.get(EventType.PLAYBOOK_FIRED, set())
    )
    outcomes = Outcome.objects.select_related("account").in_bulk(
        ids.get(EventType.OUTCOME_RECORDED, set())
    )
    jobs = ImportJob.objects.in_bulk(ids.get(EventType.IMPORT_FINISHED, set()))
    out: list[NewEvent] = []
    for row in rows:
        event_id = f"evt_outbox_{row.pk}"
        data: dict[str, Any]
        if row.topic in (EventType.TASK_CREATED, EventType.TASK_COMPLETED):
            task = tasks.get(row.object_id)
            if task is None:
                continue
            data = {"account": _account(task.account), "task": _task(task)}
        elif row.topic == EventType.PLAYBOOK_FIRED:
            run = runs.get(row.object_id)
            if run is None:
                continue
            data = {
                "account": _account(run.account),
                "playbook": {
                    "id": run.playbook_id,
                    "name": run.playbook.name,
                    "url": link(run.playbook.get_absolute_url()),
                },
                "run": {
                    "id": run.pk,
                    "fired_at": run.fired_at.isoformat(),
                    "trigger_type": run.trigger_type,
                    "reason": run.reason,
                    "band_at_firing": run.band_at_firing,
                    "tasks_created": run.tasks_created,
                },
            }
        elif row.topic == EventType.OUTCOME_RECORDED:
            outcome = outcomes.get(row.object_id)
            if outcome is None:
                continue
            data = {
                "account": _account(outcome.account),
                "outcome": {
                    "id": outcome.pk,
                    "kind": outcome.kind,
                    "occurred_at": outcome.occurred_at.isoformat(),
                    "arr_change": str(outcome.arr_change),
                },
            }
        elif row.topic == EventType.IMPORT_FINISHED:
            job = jobs.get(row.object_id)
            if job is None:
                continue
            data = {
                "import": {
                    "id": job.pk,
                    "kind": job.kind,
                    "status": job.status,
                    "rows_written": job.rows_written,
                    "error_count": job.error_count,
                    "finished_at": job.finished_at.isoformat() if job.finished_at else None,
                    "url": link(job.get_absolute_url()),
                }
            }
        else:
            raise ValueError(f"unknown outbox topic {row.topic!r}")
        out.append(NewEvent(event_id, row.topic, row.account_id, data, row.created_at))
    return out


def test_event(*, endpoint_id: int, now: dt.datetime) -> NewEvent:
    return NewEvent(
        f"evt_test_{endpoint_id}_{_stamp(now)}",
        TEST_EVENT,
        None,
        {"message": "A test from CHS: this endpoint is reachable and verifies signatures."},
        now,
    )


_ACCOUNT_EXAMPLE = {
    "id": 42,
    "external_id": "ACME-001",
    "name": "Acme Corp",
    "url": "https://chs.example.com/accounts/ACME-001/",
}
_SCORE_DATA = {
    "account": _ACCOUNT_EXAMPLE,
    "score": 38.5,
    "previous_score": 61.0,
    "band": "red",
    "previous_band": "yellow",
    "computed_at": "2026-12-04T09:30:00+00:00",
    "scorecard_id": 3,
    "changed_measures": [
        {
            "metric": "logins",
            "value": 12.0,
            "points": 20.0,
            "weight": 2.0,
            "contribution": 40.0,
            "stale": False,
        }
    ],
}
_TASK_EXAMPLE = {
    "id": 981,
    "title": "Call Acme Corp about their drop in health",
    "status": "open",
    "priority": "high",
    "due_date": "2026-12-06",
    "assignee": "jdoe",
    "playbook_id": 4,
    "created_at": "2026-12-04T09:30:02+00:00",
    "closed_at": None,
    "url": "https://chs.example.com/tasks/981/",
}
EXAMPLE_DATA: dict[str, dict[str, Any]] = {
    EventType.SCORE_CHANGED: _SCORE_DATA,
    EventType.BAND_CHANGED: _SCORE_DATA,
    EventType.TASK_CREATED: {"account": _ACCOUNT_EXAMPLE, "task": _TASK_EXAMPLE},
    EventType.TASK_COMPLETED: {
        "account": _ACCOUNT_EXAMPLE,
        "task": {**_TASK_EXAMPLE, "status": "done", "closed_at": "2026-12-05T14:10:00+00:00"},
    },
    EventType.PLAYBOOK_FIRED: {
        "account": _ACCOUNT_EXAMPLE,
        "playbook": {
            "id": 4,
            "name": "Red accounts",
            "url": "https://chs.example.com/playbooks/4/",
        },
        "run": {
            "id": 310,
            "fired_at": "2026-12-04T09:30:02+00:00",
            "trigger_type": "band_entered",
            "reason": "Entered red (score 38.5)",
            "band_at_firing": "red",
            "tasks_created": 1,
        },
    },
    EventType.OUTCOME_RECORDED: {
        "account": _ACCOUNT_EXAMPLE,
        "outcome": {"id": 77, "kind": "renewed", "occurred_at": "2026-12-01", "arr_change": "0.00"},
    },
    EventType.IMPORT_FINISHED: {
        "import": {
            "id": 15,
            "kind": "accounts",
            "status": "succeeded",
            "rows_written": 1200,
            "error_count": 0,
            "finished_at": "2026-12-04T08:02:11+00:00",
            "url": "https://chs.example.com/imports/15/",
        }
    },
}


def example_payload(event_type: str) -> dict[str, Any]:
    """The documented example of ``event_type`` (what a sample returns before any real one)."""
    return {
        "id": "evt_example",
        "type": event_type,
        "version": VERSION,
        "created_at": "2026-12-04T09:30:02+00:00",
        "data": EXAMPLE_DATA[event_type],
    }
