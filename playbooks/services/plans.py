"""Success plans: objectives (by hand or measured by a metric) and milestones, started
by hand or from a template (a playbook action can start one)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import Account, Activity, User
from chs_site.errors import ApplicationError, ValidationFailed
from playbooks.models import Milestone, Objective, SuccessPlan, SuccessPlanTemplate
from scoring.models import MetricDefinition, MetricValue


def _plan_activity(
    account: Account, actor: User | None, summary: str, now: dt.datetime, **details: Any
) -> None:
    Activity.objects.create(
        account=account,
        kind=Activity.Kind.PLAN,
        actor=actor,
        occurred_at=now,
        summary=summary[:300],
        details=details,
    )


def _latest_metric(account: Account, metric: MetricDefinition | None) -> float | None:
    if metric is None:
        return None
    row = (
        MetricValue.objects.filter(account=account, metric=metric)
        .order_by("-observed_at")
        .values_list("value", flat=True)
        .first()
    )
    return row


@transaction.atomic
def create_plan(
    *, account: Account, actor: User | None, title: str, now: dt.datetime | None = None
) -> SuccessPlan:
    now = now or timezone.now()
    if not title.strip():
        raise ValidationFailed(
            "Give the plan a title.", errors=[{"field": "title", "message": "required"}]
        )
    plan = SuccessPlan.objects.create(
        account=account, title=title.strip()[:200], created_by=actor, created_at=now
    )
    _plan_activity(account, actor, f"Success plan started: {plan.title}", now, plan=plan.pk)
    return plan


def start_plan_from_template(
    *, account: Account, template: SuccessPlanTemplate, actor: User | None, today: dt.date
) -> SuccessPlan | None:
    """Start ``template`` for ``account``; None if that template is already active there."""
    now = timezone.now()
    with transaction.atomic():
        if SuccessPlan.objects.filter(
            account=account, template=template, status=SuccessPlan.Status.ACTIVE
        ).exists():
            return None
        plan = SuccessPlan.objects.create(
            account=account,
            template=template,
            title=template.name,
            created_by=actor,
            created_at=now,
        )
        Objective.objects.bulk_create(
            [
                Objective(
                    plan=plan,
                    title=o.title,
                    metric=o.metric,
                    target=o.target,
                    baseline=_latest_metric(account, o.metric),
                    position=o.position,
                )
                for o in template.objectives.select_related("metric")
            ]
        )
        Milestone.objects.bulk_create(
            [
                Milestone(
                    plan=plan,
                    title=m.title,
                    due_date=today + dt.timedelta(days=m.due_in_days),
                    position=m.position,
                )
                for m in template.milestones.all()
            ]
        )
        _plan_activity(
            account,
            actor,
            f"Success plan started from template: {template.name}",
            now,
            plan=plan.pk,
        )
    return plan


@transaction.atomic
def add_objective(
    *,
    plan: SuccessPlan,
    actor: User,
    title: str,
    metric: MetricDefinition | None = None,
    target: float | None = None,
) -> Objective:
    errors = []
    if not title.strip():
        errors.append({"field": "title", "message": "required"})
    if (metric is None) != (target is None):
        errors.append(
            {"field": "target", "message": "a metric objective needs both a metric and a target"}
        )
    if errors:
        raise ValidationFailed(
            "The objective is not valid: " + "; ".join(e["message"] for e in errors), errors=errors
        )
    objective = Objective.objects.create(
        plan=plan,
        title=title.strip()[:200],
        metric=metric,
        target=target,
        baseline=_latest_metric(plan.account, metric),
        position=plan.objectives.count(),
    )
    _plan_activity(
        plan.account,
        actor,
        f"Objective added to {plan.title}: {objective.title}",
        timezone.now(),
        plan=plan.pk,
    )
    return objective


@transaction.atomic
def set_objective_progress(*, objective: Objective, actor: User, progress: int) -> Objective:
    if objective.metric_id is not None:
        raise ApplicationError(
            "This objective's progress comes from its metric; it cannot be set by hand."
        )
    if not 0 <= progress <= 100:
        raise ValidationFailed(
            "Progress is a percentage from 0 to 100.",
            errors=[{"field": "progress", "message": "0–100"}],
        )
    objective.manual_progress = progress
    objective.save(update_fields=["manual_progress"])
    return objective


@transaction.atomic
def add_milestone(
    *, plan: SuccessPlan, actor: User, title: str, due_date: dt.date | None
) -> Milestone:
    errors = []
    if not title.strip():
        errors.append({"field": "title", "message": "required"})
    if due_date is None:
        errors.append({"field": "due_date", "message": "required"})
    if errors:
        raise ValidationFailed(
            "The milestone is not valid: "
            + "; ".join(f"{e['field']} {e['message']}" for e in errors),
            errors=errors,
        )
    assert due_date is not None
    milestone = Milestone.objects.create(
        plan=plan, title=title.strip()[:200], due_date=due_date, position=plan.milestones.count()
    )
    _plan_activity(
        plan.account,
        actor,
        f"Milestone added to {plan.title}: {milestone.title} (due {due_date:%b %d})",
        timezone.now(),
        plan=plan.pk,
    )
    return milestone


@transaction.atomic
def set_milestone_status(*, milestone: Milestone, actor: User | None, status: str) -> Milestone:
    if status not in Milestone.Status.values:
        raise ValidationFailed(
            f"Unknown milestone status {status!r}.",
            errors=[{"field": "status", "message": "unknown"}],
        )
    if milestone.status == status:
        return milestone
    now = timezone.now()
    milestone.status = status
    milestone.completed_at = now if status == Milestone.Status.DONE else None
    milestone.save(update_fields=["status", "completed_at"])
    _plan_activity(
        milestone.plan.account,
        actor,
        f"Milestone {milestone.get_status_display().lower()}: {milestone.title}",
        now,
        plan=milestone.plan_id,
    )
    return milestone


@transaction.atomic
def set_plan_status(*, plan: SuccessPlan, actor: User, status: str) -> SuccessPlan:
    if status not in SuccessPlan.Status.values:
        raise ValidationFailed(
            f"Unknown plan status {status!r}.", errors=[{"field": "status", "message": "unknown"}]
        )
    plan.status = status
    plan.save(update_fields=["status"])
    _plan_activity(
        plan.account,
        actor,
        f"Success plan {plan.get_status_display().lower()}: {plan.title}",
        timezone.now(),
        plan=plan.pk,
    )
    return plan
