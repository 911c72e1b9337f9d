"""Benchmarks of the playbooks app: evaluating a batch of 1 000 score changes, and the task
queue page for a CSM with ~200 tasks and for their manager."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Account, Role, Team, User, owner_sort_name
from playbooks.models import Playbook, PlaybookAction, Task, TriggerType
from playbooks.selectors.tasks import visible_tasks
from playbooks.services.firing import evaluate_score_changes
from playbooks.services.tasks import adjust_open_task_counts
from scoring.contracts import ScoreChange
from scoring.models import MetricDefinition, MetricValue, Score, Scorecard


def _people(prefix: str, n_csms: int) -> tuple[User, list[User]]:
    manager = User.objects.create(username=f"{prefix}-manager", role=Role.MANAGER)
    team = Team.objects.create(name=f"{prefix}-team", manager=manager)
    csms = [
        User.objects.create(username=f"{prefix}-csm{i}", role=Role.CSM, team=team)
        for i in range(n_csms)
    ]
    return manager, csms


def _accounts(prefix: str, n: int, owners: list[User], today: dt.date) -> list[Account]:
    Account.objects.bulk_create(
        [
            Account(
                external_id=f"{prefix}-{i:05d}",
                name=f"{prefix} account {i:05d}",
                segment=("SMB", "Mid-Market", "Enterprise")[i % 3],
                owner=owners[i % len(owners)],
                owner_sort_name=owner_sort_name(owners[i % len(owners)]),
                arr=Decimal(10_000 + 37 * i),
                renewal_date=today + dt.timedelta(days=i % 365),
                health_band="yellow",
                health_score=55,
            )
            for i in range(n)
        ],
        batch_size=1000,
    )
    return list(Account.objects.filter(external_id__startswith=f"{prefix}-").order_by("pk"))


def bench_evaluate_score_changes(options: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """1 000 score changes (a fifth enter red, a tenth drop 15+ points, a metric crosses a
    threshold for some) against four enabled playbooks: ms and queries, then the same batch
    again (every account now has an open task: the dedupe path)."""
    n = int(1000 * options.get("scale", 1.0))
    today = timezone.localdate()
    now = timezone.now()
    Playbook.objects.update(enabled=False)  # only the benchmark's playbooks count
    _manager, csms = _people("bench-eval", 8)
    accounts = _accounts("bench-eval", n, csms, today)
    card = Scorecard.objects.create(name="bench", segment="bench-eval", status="active")
    usage, _ = MetricDefinition.objects.get_or_create(key="bench_usage", defaults={"name": "u"})
    for name, trigger in (
        ("bench red", {"trigger_type": TriggerType.BAND_ENTERED, "band": "red"}),
        (
            "bench drop",
            {"trigger_type": TriggerType.SCORE_DROP, "drop_points": 15, "drop_days": 14},
        ),
        (
            "bench usage",
            {
                "trigger_type": TriggerType.METRIC_THRESHOLD,
                "metric": usage,
                "metric_aggregation": "avg",
                "metric_window_days": 7,
                "threshold": 10,
            },
        ),
        (
            "bench renewal",
            {"trigger_type": TriggerType.RENEWAL_WINDOW, "days": 60, "bands": ["red", "yellow"]},
        ),
    ):
        playbook = Playbook.objects.create(name=name, enabled=True, **trigger)
        PlaybookAction.objects.create(
            playbook=playbook,
            title_template="{account_name}: " + name,
            assignee_rule="fewest_open" if name == "bench drop" else "owner",
        )
    previous_at = now - dt.timedelta(days=3)
    Score.objects.bulk_create(
        [
            Score(account=a, scorecard=card, score=70, band="green", computed_at=previous_at)
            for a in accounts
        ]
        + [
            Score(
                account=a,
                scorecard=card,
                score=30 if i % 5 == 0 else 52,
                band="red" if i % 5 == 0 else "yellow",
                computed_at=now,
            )
            for i, a in enumerate(accounts)
        ],
        batch_size=2000,
    )
    MetricValue.objects.bulk_create(
        [
            MetricValue(
                account=a,
                metric=usage,
                value=4 if i % 7 == 0 else 30,
                observed_at=now - dt.timedelta(hours=1),
            )
            for i, a in enumerate(accounts)
        ],
        batch_size=2000,
    )
    changes = [
        ScoreChange(
            account_id=a.pk,
            previous_score=70,
            previous_band="green",
            score=30 if i % 5 == 0 else 52,
            band="red" if i % 5 == 0 else "yellow",
            computed_at=now,
        )
        for i, a in enumerate(accounts)
    ]
    for label in ("first", "repeat"):
        with CaptureQueriesContext(connection) as queries:
            start = time.perf_counter()
            created = evaluate_score_changes(changes=changes, now=now)
            elapsed = time.perf_counter() - start
        yield {
            "bench": "evaluate_score_changes",
            "case": label,
            "changes": len(changes),
            "tasks_created": created,
            "ms": round(elapsed * 1000, 1),
            "queries": len(queries),
        }


def bench_task_queue_page(options: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """/tasks/ for a CSM with ~200 open tasks and for the manager of a team of 6."""
    today = timezone.localdate()
    now = timezone.now()
    manager, csms = _people("bench-queue", 6)
    accounts = _accounts("bench-queue", 600, csms, today)
    per_csm = {csms[0].pk: 200}
    tasks = []
    for i, a in enumerate(accounts):
        owner_id = a.owner_id
        assert owner_id is not None
        if per_csm.get(owner_id, 50) <= 0:
            continue
        for _ in range(2 if owner_id == csms[0].pk else 1):
            if per_csm.get(owner_id, 50) <= 0:
                break
            per_csm[owner_id] = per_csm.get(owner_id, 50) - 1
            tasks.append(
                Task(
                    account=a,
                    title=f"Follow up {i}",
                    assignee_id=owner_id,
                    due_date=today + dt.timedelta(days=(i % 30) - 10),
                    created_at=now,
                )
            )
    Task.objects.bulk_create(tasks, batch_size=1000)
    adjust_open_task_counts(changes=[(t.account_id, 1) for t in tasks])
    for user in (csms[0], manager):
        client = Client()
        client.force_login(user)
        client.get("/tasks/")
        runs = 10
        with CaptureQueriesContext(connection) as queries:
            start = time.perf_counter()
            for _ in range(runs):
                response = client.get("/tasks/")
            elapsed = (time.perf_counter() - start) / runs
        assert response.status_code == 200
        yield {
            "bench": "task_queue_page",
            "role": user.role,
            "open_tasks_in_view": (
                Task.objects.filter(assignee=user, status="open").count()
                if user.is_csm
                else visible_tasks(user).filter(status="open").count()
            ),
            "ms_per_request": round(elapsed * 1000, 1),
            "queries_per_request": len(queries) // runs,
        }


BENCHMARKS = [bench_evaluate_score_changes, bench_task_queue_page]
