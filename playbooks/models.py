"""Playbooks (trigger → conditions → actions), their runs, tasks and success plans.

Configuration is stored in typed columns, not free JSON: a playbook has one trigger
(``trigger_type`` plus the few typed parameters that trigger uses), optional conditions
(segments, ARR range, lifecycle stages, teams) and one or more ``PlaybookAction`` rows.
``Playbook.clean()`` / ``PlaybookAction.clean()`` say, per trigger and action kind, which
parameters are required; the admin, the playbook form and the services all go through them.

The one-open-task guarantee lives in the database: a partial unique index on
``Task(playbook, account, step)`` for open or snoozed tasks created by a playbook. ``step`` is
the position of the task template inside the playbook (0 for the first), so a playbook with
a single task template — the usual case — has at most one open task per (playbook, account).
"""

from __future__ import annotations

import datetime as dt
import string
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.urls import reverse

from accounts.models import Account, HealthBand, LifecycleStage, Team, User
from chs_site.formatting import number

# Placeholders a task title/description may use. Flat names only: ``str.format`` attribute or
# index access ({account.__class__}) is refused by ``render_template``.
TEMPLATE_FIELDS = {
    "account_name": "the account's name",
    "external_id": "the account's CRM id",
    "segment": "the account's segment",
    "arr": "ARR in the configured currency ($12,300)",
    "renewal_date": "renewal date (Dec 4, 2026)",
    "days_to_renewal": "days until renewal",
    "owner": "the owner's name",
    "score": "current health score",
    "band": "current band",
    "previous_band": "band before the change",
    "previous_score": "score before the change",
    "drop": "points lost within the trigger's window",
    "metric_value": "the metric aggregate that met the threshold",
    "feedback": "the feedback that fired the trigger",
    "inactive_days": "days since the last metric value",
}


class _StrictFormatter(string.Formatter):
    def get_field(self, field_name: str, args: Any, kwargs: Any) -> Any:
        if "." in field_name or "[" in field_name:
            raise ValueError(f"{{{field_name}}}: use a plain placeholder name")
        return super().get_field(field_name, args, kwargs)

    def format_field(self, value: Any, format_spec: str) -> Any:
        # A bare {metric_value} is read by people: 5.142857142857143 becomes "5.1". A
        # placeholder with its own spec ({score:.2f}) keeps exactly what it asked for.
        if not format_spec and isinstance(value, float | Decimal):
            return number(value)
        return super().format_field(value, format_spec)


def template_placeholders(text: str) -> list[str]:
    names = []
    for _literal, field, _spec, _conv in _StrictFormatter().parse(text):
        if field is not None:
            names.append(field)
    return names


def validate_task_template(text: str) -> None:
    try:
        names = template_placeholders(text)
    except ValueError as exc:  # unbalanced braces
        raise ValidationError(
            f"Broken placeholder: {exc}. Write {{{{ and }}}} for braces."
        ) from None
    unknown = sorted({n for n in names if n not in TEMPLATE_FIELDS})
    if unknown:
        raise ValidationError(
            f"Unknown placeholder(s) {', '.join('{' + n + '}' for n in unknown)}; "
            f"use {', '.join('{' + n + '}' for n in TEMPLATE_FIELDS)}."
        )


def render_template(text: str, values: dict[str, Any]) -> str:
    safe = {name: ("" if values.get(name) is None else values[name]) for name in TEMPLATE_FIELDS}
    try:
        return _StrictFormatter().vformat(text, (), safe)
    except (ValueError, KeyError, IndexError):
        return text  # validated on save; never fail a firing over a template typo


class TriggerType(models.TextChoices):
    BAND_ENTERED = "band_entered", "Band entered"
    SCORE_DROP = "score_drop", "Score dropped by N points within D days"
    METRIC_THRESHOLD = "metric_threshold", "Metric aggregate crosses a threshold"
    RENEWAL_WINDOW = "renewal_window", "Renewal within N days while band is in a set"
    NEGATIVE_FEEDBACK = "negative_feedback", "NPS detractor (0–6) or negative feedback"
    NO_ACTIVITY = "no_activity", "No metric activity for N days"


# The playbook fields each trigger reads (``Playbook.clean`` says which it requires); the
# editor shows only the chosen trigger's.
TRIGGER_FIELDS: dict[str, tuple[str, ...]] = {
    TriggerType.BAND_ENTERED: ("band",),
    TriggerType.SCORE_DROP: ("drop_points", "drop_days"),
    TriggerType.METRIC_THRESHOLD: (
        "metric",
        "metric_aggregation",
        "metric_window_days",
        "threshold_direction",
        "threshold",
    ),
    TriggerType.RENEWAL_WINDOW: ("days", "bands"),
    TriggerType.NEGATIVE_FEEDBACK: ("days",),
    TriggerType.NO_ACTIVITY: ("days",),
}

# Triggers evaluated right after a score change (same Celery flow); the others run on beat.
SCORE_TRIGGERS = {TriggerType.BAND_ENTERED, TriggerType.SCORE_DROP, TriggerType.METRIC_THRESHOLD}
TIME_TRIGGERS = {
    TriggerType.RENEWAL_WINDOW,
    TriggerType.NO_ACTIVITY,
    TriggerType.NEGATIVE_FEEDBACK,
}


class MetricAggregation(models.TextChoices):
    LATEST = "latest", "Latest value"
    AVG = "avg", "Average"
    SUM = "sum", "Sum"
    COUNT = "count", "Count"
    MIN = "min", "Minimum"
    MAX = "max", "Maximum"


class ThresholdDirection(models.TextChoices):
    BELOW = "below", "Falls below"
    ABOVE = "above", "Rises above"


class Playbook(models.Model):
    name = models.CharField(max_length=150, unique=True)
    description = models.TextField(blank=True)
    enabled = models.BooleanField(default=False, db_index=True)
    cooldown_days = models.PositiveIntegerField(
        default=14,
        help_text="After firing for an account, do not fire again for it for this many days "
        "(counted from the firing and from the close of its task, whichever is later).",
    )
    auto_close = models.BooleanField(
        default=True,
        help_text="Close this playbook's open tasks by themselves when the trigger no longer "
        "holds (the account left the band, the score recovered, the metric crossed back, the "
        "renewal passed or left the window). Off: tasks stay open until a person closes them.",
    )

    trigger_type = models.CharField(max_length=24, choices=TriggerType.choices)
    # band_entered
    band = models.CharField(max_length=8, choices=HealthBand.choices, blank=True)
    # score_drop
    drop_points = models.FloatField(null=True, blank=True)
    drop_days = models.PositiveIntegerField(null=True, blank=True)
    # metric_threshold
    metric = models.ForeignKey(
        "scoring.MetricDefinition",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="playbooks",
    )
    metric_aggregation = models.CharField(
        max_length=8, choices=MetricAggregation.choices, default=MetricAggregation.LATEST
    )
    metric_window_days = models.PositiveIntegerField(default=30)
    threshold_direction = models.CharField(
        max_length=8, choices=ThresholdDirection.choices, default=ThresholdDirection.BELOW
    )
    threshold = models.FloatField(null=True, blank=True)
    # renewal_window (days) and no_activity (days); negative_feedback (lookback days)
    days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Renewal: within this many days. No activity: for this many days. "
        "Feedback: look back this many days (default 7).",
    )
    bands = models.JSONField(
        default=list, blank=True, help_text="Renewal trigger: fire while the band is one of these."
    )

    # conditions (all optional; empty = any)
    segments = models.JSONField(default=list, blank=True)
    arr_min = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    arr_max = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    lifecycle_stages = models.JSONField(default=list, blank=True)
    teams = models.ManyToManyField(Team, blank=True, related_name="playbooks")

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(arr_min__isnull=True)
                | Q(arr_max__isnull=True)
                | Q(arr_min__lte=models.F("arr_max")),
                name="playbook_arr_range_ordered",
            )
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("playbooks:playbook_detail", args=[self.pk])

    @property
    def is_score_triggered(self) -> bool:
        return self.trigger_type in SCORE_TRIGGERS

    def clean(self) -> None:
        errors: dict[str, str] = {}
        t = self.trigger_type
        if t == TriggerType.BAND_ENTERED and not self.band:
            errors["band"] = "Choose the band whose entry fires this playbook."
        if t == TriggerType.SCORE_DROP:
            if self.drop_points is None or self.drop_points <= 0:
                errors["drop_points"] = "Give the drop in points (more than 0)."
            if not self.drop_days:
                errors["drop_days"] = "Give the window in days (at least 1)."
        if t == TriggerType.METRIC_THRESHOLD:
            if self.metric_id is None:
                errors["metric"] = "Choose the metric to watch."
            if self.threshold is None:
                errors["threshold"] = "Give the threshold value."
            if not self.metric_window_days:
                errors["metric_window_days"] = "The window must be at least 1 day."
        if t in (TriggerType.RENEWAL_WINDOW, TriggerType.NO_ACTIVITY) and not self.days:
            errors["days"] = "Give the number of days (at least 1)."
        if t == TriggerType.RENEWAL_WINDOW:
            bad = [b for b in self.bands or [] if b not in HealthBand.values]
            if not self.bands:
                errors["bands"] = "Choose at least one band (e.g. red and yellow)."
            elif bad:
                errors["bands"] = f"Unknown band(s) {', '.join(map(str, bad))}."
        bad_stages = [s for s in self.lifecycle_stages or [] if s not in LifecycleStage.values]
        if bad_stages:
            errors["lifecycle_stages"] = f"Unknown lifecycle stage(s) {', '.join(bad_stages)}."
        if not isinstance(self.segments, list) or not all(
            isinstance(s, str) for s in self.segments
        ):
            errors["segments"] = "Segments must be a list of names."
        if self.arr_min is not None and self.arr_max is not None and self.arr_min > self.arr_max:
            errors["arr_max"] = "The maximum ARR must not be below the minimum."
        if errors:
            raise ValidationError(errors)

    def trigger_summary(self) -> str:
        t = self.trigger_type
        if t == TriggerType.BAND_ENTERED:
            return f"Band becomes {self.band}"
        if t == TriggerType.SCORE_DROP:
            return f"Score drops by {self.drop_points:g}+ points within {self.drop_days} days"
        if t == TriggerType.METRIC_THRESHOLD:
            metric = self.metric.key if self.metric_id and self.metric else "?"
            arrow = "<" if self.threshold_direction == ThresholdDirection.BELOW else ">"
            return (
                f"{self.get_metric_aggregation_display()} of {metric} over "
                f"{self.metric_window_days} days {arrow} {self.threshold:g}"
                if self.threshold is not None
                else f"{metric} threshold"
            )
        if t == TriggerType.RENEWAL_WINDOW:
            return f"Renewal within {self.days} days while band is {' or '.join(self.bands)}"
        if t == TriggerType.NEGATIVE_FEEDBACK:
            return f"NPS 0–6 or negative feedback in the last {self.feedback_lookback_days} days"
        if t == TriggerType.NO_ACTIVITY:
            return f"No metric values for {self.days} days"
        return t

    def conditions_summary(self) -> list[str]:
        parts = []
        if self.segments:
            parts.append(f"Segment is {' or '.join(self.segments)}")
        if self.arr_min is not None:
            parts.append(f"ARR ≥ {self.arr_min:,.0f}")
        if self.arr_max is not None:
            parts.append(f"ARR ≤ {self.arr_max:,.0f}")
        if self.lifecycle_stages:
            parts.append(f"Lifecycle is {' or '.join(self.lifecycle_stages)}")
        return parts

    @property
    def feedback_lookback_days(self) -> int:
        return self.days or 7


class TaskPriority(models.TextChoices):
    LOW = "low", "Low"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"
    URGENT = "urgent", "Urgent"


class PlaybookAction(models.Model):
    class Kind(models.TextChoices):
        CREATE_TASK = "create_task", "Create a task"
        NOTIFY = "notify", "Notify"
        START_PLAN = "start_plan", "Start a success plan"
        SEND_SURVEY = "send_survey", "Send a survey to the account's contacts"

    class AssigneeRule(models.TextChoices):
        OWNER = "owner", "The account's owner"
        OWNER_MANAGER = "owner_manager", "The owner's manager"
        NAMED_USER = "named_user", "A named user"
        ROUND_ROBIN = "round_robin", "Round-robin in the owner's team"
        FEWEST_OPEN = "fewest_open", "The CSM in the owner's team with the fewest open tasks"

    playbook = models.ForeignKey(Playbook, on_delete=models.CASCADE, related_name="actions")
    position = models.PositiveSmallIntegerField(default=0)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.CREATE_TASK)
    title_template = models.CharField(
        max_length=200, blank=True, help_text="E.g. “Call {account_name}: entered {band}”."
    )
    description_template = models.TextField(blank=True)
    due_in_days = models.PositiveIntegerField(default=2)
    priority = models.CharField(
        max_length=8, choices=TaskPriority.choices, default=TaskPriority.NORMAL
    )
    assignee_rule = models.CharField(
        max_length=16, choices=AssigneeRule.choices, default=AssigneeRule.OWNER
    )
    assignee_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    plan_template = models.ForeignKey(
        "playbooks.SuccessPlanTemplate",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    survey = models.ForeignKey(
        "surveys.Survey",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Send a survey: emailed to the account's contacts (never to one who "
        "unsubscribed or was surveyed recently).",
    )
    # Round-robin position per team: {"<team id>": <last assigned user id>}. Updated under
    # a row lock (select_for_update) so two workers never hand out the same turn.
    round_robin_state = models.JSONField(default=dict, blank=True, editable=False)

    class Meta:
        ordering = ["playbook", "position", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.playbook_id})"

    def clean(self) -> None:
        errors: dict[str, Any] = {}
        if self.kind in (self.Kind.CREATE_TASK, self.Kind.NOTIFY):
            if not self.title_template.strip():
                errors["title_template"] = "A title is required."
            for field in ("title_template", "description_template"):
                try:
                    validate_task_template(getattr(self, field))
                except ValidationError as exc:
                    errors[field] = exc.messages
        if self.assignee_rule == self.AssigneeRule.NAMED_USER and self.assignee_user_id is None:
            errors["assignee_user"] = "Choose the user who gets the task."
        if self.kind == self.Kind.START_PLAN and self.plan_template_id is None:
            errors["plan_template"] = "Choose the success-plan template to start."
        if self.kind == self.Kind.SEND_SURVEY and self.survey_id is None:
            errors["survey"] = "Choose the survey to send."
        if errors:
            raise ValidationError(errors)


class PlaybookRun(models.Model):
    """One firing of a playbook for one account: why it fired and what it created."""

    class Source(models.TextChoices):
        SCORE_CHANGE = "score_change", "Score change"
        SCHEDULE = "schedule", "Schedule"
        FEEDBACK = "feedback", "Feedback"
        MANUAL = "manual", "Run now"

    playbook = models.ForeignKey(Playbook, on_delete=models.CASCADE, related_name="runs")
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="playbook_runs")
    fired_at = models.DateTimeField()
    source = models.CharField(max_length=16, choices=Source.choices)
    trigger_type = models.CharField(max_length=24, choices=TriggerType.choices)
    reason = models.CharField(max_length=300)
    values = models.JSONField(default=dict, help_text="The values that met the trigger.")
    band_at_firing = models.CharField(max_length=8, blank=True)
    tasks_created = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-fired_at", "-id"]
        indexes = [
            models.Index(fields=["playbook", "account", "-fired_at"]),
            models.Index(fields=["playbook", "-fired_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.playbook_id} → {self.account_id} @ {self.fired_at:%Y-%m-%d %H:%M}"


class TaskStatus(models.TextChoices):
    OPEN = "open", "Open"
    SNOOZED = "snoozed", "Snoozed"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"
    # Closed by ``playbooks.services.autoclose`` because the trigger stopped holding: kept
    # apart from DONE so effectiveness and the queue never count it as a person's work.
    RESOLVED = "resolved", "Closed by itself"


ACTIVE_STATUSES = (TaskStatus.OPEN, TaskStatus.SNOOZED)


class Task(models.Model):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="tasks")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=TaskStatus.choices, default=TaskStatus.OPEN)
    priority = models.CharField(
        max_length=8, choices=TaskPriority.choices, default=TaskPriority.NORMAL
    )
    due_date = models.DateField(null=True, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tasks",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    playbook = models.ForeignKey(
        Playbook, null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks"
    )
    run = models.ForeignKey(
        PlaybookRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks"
    )
    step = models.PositiveSmallIntegerField(default=0)
    snoozed_until = models.DateField(null=True, blank=True)
    snooze_reason = models.CharField(max_length=300, blank=True)
    outcome_note = models.TextField(blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["due_date", "id"]
        constraints = [
            # The duplicate guard: two workers evaluating the same change cannot both
            # leave an open task behind; the second insert conflicts and is dropped.
            models.UniqueConstraint(
                fields=["playbook", "account", "step"],
                condition=Q(playbook__isnull=False, status__in=["open", "snoozed"]),
                name="one_open_task_per_playbook_account",
            ),
            models.CheckConstraint(
                condition=~Q(status="snoozed") | Q(snoozed_until__isnull=False),
                name="snoozed_task_has_date",
            ),
        ]
        indexes = [
            models.Index(fields=["assignee", "status", "due_date"]),
            models.Index(fields=["account", "status"]),
            models.Index(fields=["status", "snoozed_until"]),
            models.Index(fields=["playbook", "account", "closed_at"]),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    def is_overdue(self, today: dt.date) -> bool:
        return (
            self.status == TaskStatus.OPEN and self.due_date is not None and self.due_date < today
        )


class TaskEvent(models.Model):
    """Every change of a task, as a row (who, what, from → to)."""

    class Kind(models.TextChoices):
        CREATED = "created", "Created"
        STATUS = "status", "Status changed"
        REASSIGNED = "reassigned", "Reassigned"
        EDITED = "edited", "Edited"

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    occurred_at = models.DateTimeField()
    from_value = models.CharField(max_length=200, blank=True)
    to_value = models.CharField(max_length=200, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["occurred_at", "id"]
        indexes = [models.Index(fields=["task", "occurred_at"])]

    def __str__(self) -> str:
        return f"{self.task_id}: {self.kind} {self.from_value} → {self.to_value}"


# --- success plans ----------------------------------------------------------------------


class SuccessPlanTemplate(models.Model):
    name = models.CharField(max_length=150, unique=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TemplateObjective(models.Model):
    template = models.ForeignKey(
        SuccessPlanTemplate, on_delete=models.CASCADE, related_name="objectives"
    )
    position = models.PositiveSmallIntegerField(default=0)
    title = models.CharField(max_length=200)
    metric = models.ForeignKey(
        "scoring.MetricDefinition",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    target = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["template", "position", "id"]

    def __str__(self) -> str:
        return self.title

    def clean(self) -> None:
        if (self.metric_id is None) != (self.target is None):
            raise ValidationError("A metric objective needs both a metric and a target.")


class TemplateMilestone(models.Model):
    template = models.ForeignKey(
        SuccessPlanTemplate, on_delete=models.CASCADE, related_name="milestones"
    )
    position = models.PositiveSmallIntegerField(default=0)
    title = models.CharField(max_length=200)
    due_in_days = models.PositiveIntegerField(default=30)

    class Meta:
        ordering = ["template", "position", "id"]

    def __str__(self) -> str:
        return self.title


class SuccessPlan(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        COMPLETED = "completed", "Completed"
        CANCELLED = "cancelled", "Cancelled"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="success_plans")
    template = models.ForeignKey(
        SuccessPlanTemplate, null=True, blank=True, on_delete=models.SET_NULL, related_name="plans"
    )
    title = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # A playbook (or a double click) cannot start the same template twice at once.
            models.UniqueConstraint(
                fields=["account", "template"],
                condition=Q(status="active", template__isnull=False),
                name="one_active_plan_per_template",
            )
        ]

    def __str__(self) -> str:
        return self.title


class Objective(models.Model):
    plan = models.ForeignKey(SuccessPlan, on_delete=models.CASCADE, related_name="objectives")
    title = models.CharField(max_length=200)
    metric = models.ForeignKey(
        "scoring.MetricDefinition",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    target = models.FloatField(null=True, blank=True)
    # The metric's latest value when the objective was set: progress runs baseline → target.
    baseline = models.FloatField(null=True, blank=True)
    manual_progress = models.PositiveSmallIntegerField(
        default=0, help_text="Percent done, for objectives without a metric."
    )
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["plan", "position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(metric__isnull=True, target__isnull=True)
                | Q(metric__isnull=False, target__isnull=False),
                name="objective_metric_and_target_together",
            ),
            models.CheckConstraint(
                condition=Q(manual_progress__lte=100), name="objective_progress_le_100"
            ),
        ]

    def __str__(self) -> str:
        return self.title


class Milestone(models.Model):
    class Status(models.TextChoices):
        PLANNED = "planned", "Planned"
        DONE = "done", "Done"
        SKIPPED = "skipped", "Skipped"

    plan = models.ForeignKey(SuccessPlan, on_delete=models.CASCADE, related_name="milestones")
    title = models.CharField(max_length=200)
    due_date = models.DateField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PLANNED)
    completed_at = models.DateTimeField(null=True, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["plan", "due_date", "position", "id"]
        indexes = [models.Index(fields=["status", "due_date"])]

    def __str__(self) -> str:
        return self.title


# --- notifications -----------------------------------------------------------------------


class Notification(models.Model):
    """An in-app notification; email and Slack delivery state is tracked on the row so a
    failed delivery is retried and never loses the notification (or the task)."""

    class Delivery(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        DIGEST = "digest", "Waiting for the daily digest"
        SKIPPED = "skipped", "Not wanted"
        FAILED = "failed", "Failed"

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    task = models.ForeignKey(
        Task, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    url = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True, blank=True)
    # Set when the notification's task closed by itself: the news it carried is over.
    resolved_at = models.DateTimeField(null=True, blank=True)
    email_status = models.CharField(
        max_length=8, choices=Delivery.choices, default=Delivery.PENDING
    )
    slack_status = models.CharField(
        max_length=8, choices=Delivery.choices, default=Delivery.SKIPPED
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["recipient", "read_at"]),
            models.Index(fields=["email_status", "created_at"]),
        ]

    def __str__(self) -> str:
        return self.title


# --- Slack --------------------------------------------------------------------------------


class SlackWorkspace(models.Model):
    """The Slack workspace CHS posts to with its bot token (one per installation). Without
    one, notifications fall back to each team's incoming webhook."""

    token_encrypted = models.TextField(help_text="The bot token (xoxb-…), encrypted.")
    token_hint = models.CharField(max_length=8, blank=True)
    slack_team_id = models.CharField(max_length=32, blank=True)
    slack_team_name = models.CharField(max_length=200, blank=True)
    api_base = models.URLField(
        blank=True, help_text="Blank: Slack's Web API (tests point it at a local server)."
    )
    connected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    connected_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.slack_team_name or "Slack workspace"


class SlackProfile(models.Model):
    """A person's Slack: how they want notifications there (like email) and, once looked up
    by email, their Slack user id."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="slack_profile"
    )
    mode = models.CharField(
        max_length=16, choices=User.EmailMode.choices, default=User.EmailMode.IMMEDIATE
    )
    slack_user_id = models.CharField(max_length=32, blank=True)
    looked_up_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Slack for {self.user_id}: {self.get_mode_display()}"


class TeamChannel(models.Model):
    """The Slack channel a team's band changes and at-risk renewals are posted to."""

    team = models.OneToOneField(Team, on_delete=models.CASCADE, related_name="slack_channel")
    channel = models.CharField(max_length=80, help_text="Channel id (C0…) or #name.")

    def __str__(self) -> str:
        return self.channel


class ChannelPost(models.Model):
    """A message for a team's channel, stored in the transaction that made the news and
    sent after commit (retried like notifications): what was sent, where, when, and
    whether it arrived."""

    class Kind(models.TextChoices):
        BAND_CHANGES = "band_changes", "Band changes"
        RENEWAL_RISKS = "renewal_risks", "Renewals at risk"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(max_length=80)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    text = models.TextField(help_text="The fallback text (notifications, screen readers).")
    blocks = models.JSONField(default=list)
    status = models.CharField(
        max_length=8, choices=Notification.Delivery.choices, default=Notification.Delivery.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} → {self.channel}"


class AttentionSnooze(models.Model):
    """An account taken off the Today list until ``until``, for the reasons it had then
    (``playbooks.selectors.attention``'s reason keys). A reason not among them brings the
    account back early; one row per account, replaced by the next snooze."""

    account = models.OneToOneField(
        Account, on_delete=models.CASCADE, related_name="attention_snooze"
    )
    until = models.DateField(help_text="The first day the account shows again.")
    reason_keys = models.JSONField(default=list, help_text="The reasons it was snoozed for.")
    note = models.CharField(max_length=300, blank=True)
    snoozed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    snoozed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.account_id} snoozed until {self.until}"

    def hides(self, reason_keys: Iterable[str], *, today: dt.date) -> bool:
        """Whether the snooze still hides an account that has ``reason_keys`` now."""
        return today < self.until and set(reason_keys) <= set(self.reason_keys)
