"""Success plans: an account's plans with each objective's progress, and the milestones
that are overdue in a book."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Prefetch

from accounts.models import Account, User
from accounts.selectors.access import visible_accounts
from playbooks.models import Milestone, Objective, SuccessPlan
from scoring.models import MetricValue


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


def active_plan_count(account: Account) -> int:
    """How many success plans of the account are active (the account page's tab count)."""
    return SuccessPlan.objects.filter(account=account, status=SuccessPlan.Status.ACTIVE).count()
