"""Demo playbooks, success-plan templates, and the tasks and plans they lead to.

Deterministic and idempotent: playbooks and templates are keyed by name; tasks come from
firing the playbooks against the demo data as it is (an account with an open task of a
playbook, or inside its cooldown, is skipped, so a second run creates nothing); the few
hand-made tasks and plans are keyed by (account, title). Runs after ``scoring.demo``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.demo import plan_accounts
from accounts.models import Account, LifecycleStage, User
from playbooks import triggers
from playbooks.models import (
    Playbook,
    PlaybookAction,
    PlaybookRun,
    SuccessPlanTemplate,
    Task,
    TaskEvent,
    TemplateMilestone,
    TemplateObjective,
    TriggerType,
)
from playbooks.services.firing import fire
from playbooks.services.plans import set_milestone_status, start_plan_from_template
from playbooks.services.tasks import adjust_open_task_counts
from scoring import demo as scoring_demo
from scoring.models import MetricDefinition

# name → (objectives: (title, metric key or None, target), milestones: (title, due in days))
PLAN_TEMPLATES: dict[str, dict[str, Any]] = {
    "Onboarding": {
        "description": "From signature to first value in 60 days.",
        "objectives": [
            ("Feature adoption reaches 60%", "feature_adoption", 60.0),
            ("Weekly active users reach 40", "active_users", 40.0),
            ("Admins trained and confident", None, None),
        ],
        "milestones": [
            ("Kick-off call held", 7),
            ("Admins trained", 14),
            ("Integrations live", 30),
            ("First value review", 45),
            ("Onboarding signed off", 60),
        ],
    },
    "Back to green": {
        "description": "Recover an account that fell into red: cause found, usage rebuilt.",
        "objectives": [
            ("Weekly active users back above 30", "active_users", 30.0),
            ("Feature adoption back above 50%", "feature_adoption", 50.0),
            ("Sponsor engaged in the plan", None, None),
        ],
        "milestones": [
            ("Root-cause call held", 3),
            ("Recovery plan agreed with the sponsor", 7),
            ("Admins retrained", 21),
            ("Usage review", 45),
            ("Back in green", 60),
        ],
    },
    "Renewal": {
        "description": "Secure the renewal: value proven, risks known, decision-maker engaged.",
        "objectives": [
            ("NPS of 8 or better", "nps", 8.0),
            ("Executive sponsor confirmed", None, None),
        ],
        "milestones": [
            ("Renewal-risk review", 7),
            ("Executive business review", 30),
            ("Commercial proposal sent", 45),
            ("Renewal signed", 90),
        ],
    },
}

# name → (trigger fields, actions: (kind, fields))
PLAYBOOKS: dict[str, dict[str, Any]] = {
    "Fell into red → call within 2 days": {
        "description": "An account entered red: the owner calls the customer within two days.",
        "trigger": {"trigger_type": TriggerType.BAND_ENTERED, "band": "red", "cooldown_days": 14},
        "actions": [
            (
                "create_task",
                {
                    "title_template": "Call {account_name}: fell into red ({score})",
                    "description_template": "{account_name} went from {previous_band} to red "
                    "(score {score}). Call the main contact, find the cause, log the outcome.",
                    "due_in_days": 2,
                    "priority": "high",
                    "assignee_rule": "owner",
                },
            ),
            (
                "notify",
                {"title_template": "{account_name} fell into red", "assignee_rule": "owner"},
            ),
        ],
    },
    "Renewal in 90 days and not green → renewal-risk review": {
        "description": "Renewal is close and health is not green: the owner's manager reviews.",
        "trigger": {
            "trigger_type": TriggerType.RENEWAL_WINDOW,
            "days": 90,
            "bands": ["red", "yellow"],
            "cooldown_days": 60,
        },
        "actions": [
            (
                "create_task",
                {
                    "title_template": "Renewal-risk review: {account_name} renews {renewal_date}",
                    "description_template": "{account_name} (ARR {arr}) renews in "
                    "{days_to_renewal} days and is {band}. Review the risk with {owner}.",
                    "due_in_days": 7,
                    "priority": "high",
                    "assignee_rule": "owner_manager",
                },
            ),
            ("start_plan", {"plan_template": "Renewal"}),
        ],
    },
    "NPS detractor → follow up": {
        "description": "A detractor answer (NPS 0–6) or negative feedback: the owner follows up.",
        "trigger": {"trigger_type": TriggerType.NEGATIVE_FEEDBACK, "days": 7, "cooldown_days": 14},
        "actions": [
            (
                "create_task",
                {
                    "title_template": "Follow up with {account_name}: {feedback}",
                    "description_template": "Thank them, understand the score, agree a fix.",
                    "due_in_days": 3,
                    "priority": "normal",
                    "assignee_rule": "owner",
                },
            )
        ],
    },
    "Score dropped 15+ points in 14 days → check usage": {
        "description": "A steep drop usually means usage fell off: check what changed.",
        "trigger": {
            "trigger_type": TriggerType.SCORE_DROP,
            "drop_points": 15,
            "drop_days": 14,
            "cooldown_days": 21,
        },
        "actions": [
            (
                "create_task",
                {
                    "title_template": "Check usage at {account_name}: score down {drop} points",
                    "description_template": "Score fell {drop} points in two weeks (now {score}).",
                    "due_in_days": 5,
                    "priority": "normal",
                    "assignee_rule": "owner",
                },
            )
        ],
    },
}

# A hand-made week for csm1, so the queue shows every group.
CSM1_TASKS = (
    ("Send the QBR deck", -3, "normal"),
    ("Confirm the training date", 0, "normal"),
    ("Review the support backlog with the customer", 2, "low"),
    ("Plan the expansion conversation", 20, "normal"),
)


@transaction.atomic
def _ensure_templates(created: dict[str, int]) -> dict[str, SuccessPlanTemplate]:
    metrics = {m.key: m for m in MetricDefinition.objects.all()}
    out = {}
    for name, spec in PLAN_TEMPLATES.items():
        template, new = SuccessPlanTemplate.objects.get_or_create(
            name=name, defaults={"description": spec["description"]}
        )
        if new:
            created["plan_templates"] += 1
            for i, (title, key, target) in enumerate(spec["objectives"]):
                metric = metrics.get(key) if key else None
                TemplateObjective.objects.create(
                    template=template,
                    position=i,
                    title=title,
                    metric=metric,
                    target=target if metric else None,
                )
            for i, (title, days) in enumerate(spec["milestones"]):
                TemplateMilestone.objects.create(
                    template=template, position=i, title=title, due_in_days=days
                )
        out[name] = template
    return out


@transaction.atomic
def _ensure_playbooks(
    templates: dict[str, SuccessPlanTemplate], created: dict[str, int]
) -> list[Playbook]:
    admin = User.objects.filter(username="admin").first()
    out = []
    for name, spec in PLAYBOOKS.items():
        playbook = Playbook.objects.filter(name=name).first()
        if playbook is None:
            playbook = Playbook(
                name=name, description=spec["description"], enabled=True, created_by=admin
            )
            for field, value in spec["trigger"].items():
                setattr(playbook, field, value)
            playbook.full_clean()
            playbook.save()
            for i, (kind, fields) in enumerate(spec["actions"]):
                fields = dict(fields)
                if "plan_template" in fields:
                    fields["plan_template"] = templates[fields["plan_template"]]
                action = PlaybookAction(playbook=playbook, position=i, kind=kind, **fields)
                action.full_clean(exclude=["playbook"])
                action.save()
            created["playbooks"] += 1
        out.append(playbook)
    return out


def seed(*, today: dt.date) -> dict[str, int]:
    created = {"plan_templates": 0, "playbooks": 0, "tasks": 0, "plans": 0}
    templates = _ensure_templates(created)
    playbooks = _ensure_playbooks(templates, created)
    now = timezone.now()
    # Fire each enabled playbook against the demo data as it is now. Notify actions are
    # skipped: demo data should not email anyone.
    for playbook in playbooks:
        if playbook.enabled:
            matches = triggers.match_state(playbook, now=now)
            created["tasks"] += fire(
                playbook=playbook,
                matches=matches,
                source=PlaybookRun.Source.SCHEDULE,
                now=now,
                notify=False,
            )
    created["tasks"] += _seed_csm1_week(today, now)
    created["plans"] += _seed_onboarding_plans(templates["Onboarding"], today)
    created["plans"] += _seed_recovery_plans(templates["Back to green"], today)
    return created


@transaction.atomic
def _seed_csm1_week(today: dt.date, now: dt.datetime) -> int:
    csm = User.objects.filter(username="csm1").first()
    if csm is None:
        return 0
    accounts = list(Account.objects.filter(owner=csm).order_by("external_id")[: len(CSM1_TASKS)])
    made = 0
    for account, (title, days, priority) in zip(accounts, CSM1_TASKS, strict=False):
        if Task.objects.filter(account=account, title=title).exists():
            continue
        task = Task.objects.create(
            account=account,
            title=title,
            due_date=today + dt.timedelta(days=days),
            priority=priority,
            assignee=csm,
            created_by=csm,
            created_at=now,
        )
        adjust_open_task_counts(changes=[(account.pk, 1)])
        TaskEvent.objects.create(
            task=task, kind=TaskEvent.Kind.CREATED, actor=csm, occurred_at=now, to_value="csm1"
        )
        made += 1
    return made


def _seed_onboarding_plans(template: SuccessPlanTemplate, today: dt.date) -> int:
    """Onboarding plans for the accounts in onboarding (first 30), started 3 weeks ago, so
    some milestones are done and one or two are overdue."""
    accounts = Account.objects.filter(lifecycle_stage=LifecycleStage.ONBOARDING).order_by(
        "external_id"
    )[:30]
    made = 0
    for account in accounts:
        plan = start_plan_from_template(
            account=account, template=template, actor=None, today=today - dt.timedelta(days=21)
        )
        if plan is None:
            continue
        made += 1
        first = plan.milestones.order_by("due_date").first()
        if first is not None:
            set_milestone_status(milestone=first, actor=None, status="done")
    return made


def _seed_recovery_plans(template: SuccessPlanTemplate, today: dt.date) -> int:
    """A "Back to green" plan for each account whose story is a recovery, started at the
    trough the story turned at, with the milestones due since then done (the plan is what
    turned it around; the demo feedback has the meeting where it was agreed)."""
    plan = plan_accounts(today)
    ids = dict(
        Account.objects.filter(external_id__in=[a.external_id for a in plan]).values_list(
            "external_id", "id"
        )
    )
    window_start = today - dt.timedelta(days=scoring_demo.HISTORY_DAYS - 1)
    made = 0
    for index, demo_account in enumerate(plan):
        traj = scoring_demo.story(
            account_index=index,
            onboarding=demo_account.lifecycle_stage == LifecycleStage.ONBOARDING,
            today=today,
        )
        account_id = ids.get(demo_account.external_id)
        if traj.kind != "recovering" or traj.turn_day is None or account_id is None:
            continue
        started = window_start + dt.timedelta(days=traj.turn_day)
        if not window_start <= started <= today:
            continue
        account = Account.objects.get(pk=account_id)
        success_plan = start_plan_from_template(
            account=account, template=template, actor=None, today=started
        )
        if success_plan is None:
            continue
        made += 1
        for milestone in success_plan.milestones.filter(due_date__lt=today):
            set_milestone_status(milestone=milestone, actor=None, status="done")
    return made
