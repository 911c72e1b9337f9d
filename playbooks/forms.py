from __future__ import annotations

from typing import Any

from django import forms
from django.forms import inlineformset_factory

from accounts.forms import PersonChoiceField
from accounts.models import HealthBand, LifecycleStage, User
from playbooks.models import (
    Playbook,
    PlaybookAction,
    SuccessPlanTemplate,
    TaskPriority,
    TaskStatus,
)
from scoring.models import MetricDefinition
from surveys.models import Survey


class DateInput(forms.DateInput):
    input_type = "date"


class CompleteForm(forms.Form):
    outcome_note = forms.CharField(
        label="Outcome note",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="What happened? It goes on the account's timeline.",
    )


class SnoozeForm(forms.Form):
    until = forms.DateField(label="Snooze until", widget=DateInput)
    reason = forms.CharField(label="Reason", max_length=300)


class AttentionSnoozeForm(forms.Form):
    """Snooze an account on Today (``playbooks.services.attention``)."""

    DAY_CHOICES = [(1, "1 day"), (3, "3 days"), (7, "7 days"), (14, "14 days"), (30, "30 days")]

    days = forms.TypedChoiceField(choices=DAY_CHOICES, coerce=int, initial=7, label="Snooze for")
    note = forms.CharField(label="Why (optional)", max_length=300, required=False)


class CancelForm(forms.Form):
    reason = forms.CharField(label="Reason", max_length=300, required=False)


class ReassignForm(forms.Form):
    assignee = PersonChoiceField(queryset=User.objects.none(), label="Assign to")

    def __init__(self, *args: Any, people: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = people  # type: ignore[attr-defined]


class TaskCreateForm(forms.Form):
    title = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    due_date = forms.DateField(required=False, widget=DateInput, label="Due")
    priority = forms.ChoiceField(choices=TaskPriority.choices, initial=TaskPriority.NORMAL)
    assignee = PersonChoiceField(
        queryset=User.objects.none(), required=False, empty_label="The account's owner"
    )

    def __init__(self, *args: Any, people: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = people  # type: ignore[attr-defined]


class QueueFilterForm(forms.Form):
    scope = forms.ChoiceField(
        choices=[("mine", "My tasks"), ("team", "Team")], required=False, label="Whose"
    )
    status = forms.ChoiceField(
        choices=[("", "Any status"), *TaskStatus.choices], required=False, initial="open"
    )
    assignee = forms.CharField(required=False, max_length=150, label="Assignee")
    playbook = forms.ModelChoiceField(
        queryset=Playbook.objects.all(), required=False, empty_label="Any playbook"
    )
    q = forms.CharField(required=False, max_length=100, label="Search")


class OutreachTaskForm(forms.Form):
    """The task a bulk outreach creates: for accounts picked by filter (``OutreachForm``)
    or ticked on the portfolio."""

    assignee = PersonChoiceField(
        queryset=User.objects.none(),
        required=False,
        empty_label="Each account's owner",
        label="Assign to",
    )
    title = forms.CharField(max_length=200, initial="Check in with {account_name}")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    due_in_days = forms.IntegerField(min_value=0, max_value=365, initial=3, label="Due in (days)")
    priority = forms.ChoiceField(choices=TaskPriority.choices, initial=TaskPriority.NORMAL)

    def __init__(self, *args: Any, people: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = people  # type: ignore[attr-defined]

    def clean_title(self) -> str:
        from playbooks.models import validate_task_template

        title: str = self.cleaned_data["title"]
        validate_task_template(title)
        return title


class OutreachForm(OutreachTaskForm):
    band = forms.ChoiceField(choices=[("", "Any band"), *HealthBand.choices], required=False)
    segment = forms.CharField(required=False, max_length=50)
    renewal_within_days = forms.IntegerField(
        required=False, min_value=0, max_value=730, label="Renews within (days)"
    )
    score_drop_at_least = forms.FloatField(
        required=False, min_value=0, max_value=100, label="Score dropped by at least (30 days)"
    )

    field_order = [  # noqa: RUF012  (Django reads it as a plain list)
        "band",
        "segment",
        "renewal_within_days",
        "score_drop_at_least",
        "assignee",
        "title",
        "description",
        "due_in_days",
        "priority",
    ]


class CommaListField(forms.CharField):
    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return ", ".join(value)
        return value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        text = super().to_python(value) or ""
        return [part.strip() for part in text.split(",") if part.strip()]


class PlaybookForm(forms.ModelForm):
    segments = CommaListField(required=False, help_text="Comma-separated; empty = any segment.")
    lifecycle_stages = forms.MultipleChoiceField(
        choices=LifecycleStage.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    bands = forms.MultipleChoiceField(
        choices=HealthBand.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Bands (renewal trigger)",
    )

    class Meta:
        model = Playbook
        fields = [
            "name",
            "description",
            "enabled",
            "cooldown_days",
            "auto_close",
            "trigger_type",
            "band",
            "drop_points",
            "drop_days",
            "metric",
            "metric_aggregation",
            "metric_window_days",
            "threshold_direction",
            "threshold",
            "days",
            "bands",
            "segments",
            "arr_min",
            "arr_max",
            "lifecycle_stages",
            "teams",
        ]
        widgets = {
            "description": forms.Textarea(attrs={"rows": 2}),
            "teams": forms.CheckboxSelectMultiple,
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["metric"].queryset = MetricDefinition.objects.order_by("name")  # type: ignore[attr-defined]


class ActionForm(forms.ModelForm):
    class Meta:
        model = PlaybookAction
        fields = [
            "kind",
            "title_template",
            "description_template",
            "due_in_days",
            "priority",
            "assignee_rule",
            "assignee_user",
            "plan_template",
            "survey",
            "position",
        ]
        widgets = {"description_template": forms.Textarea(attrs={"rows": 2})}
        labels = {"title_template": "Title", "description_template": "Description"}
        field_classes = {"assignee_user": PersonChoiceField}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee_user"].queryset = User.objects.filter(is_active=True)  # type: ignore[attr-defined]
        self.fields["plan_template"].queryset = SuccessPlanTemplate.objects.all()  # type: ignore[attr-defined]
        self.fields["survey"].queryset = Survey.objects.all()  # type: ignore[attr-defined]


ActionFormSet = inlineformset_factory(
    Playbook,
    PlaybookAction,
    form=ActionForm,
    extra=1,
    can_delete=True,
    min_num=1,
    validate_min=True,
)


class PlanForm(forms.Form):
    template = forms.ModelChoiceField(
        queryset=SuccessPlanTemplate.objects.all(),
        required=False,
        empty_label="Blank plan",
        label="Start from template",
    )
    title = forms.CharField(max_length=200, required=False, label="Plan title")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("template") and not (data.get("title") or "").strip():
            raise forms.ValidationError("Choose a template or give the plan a title.")
        return data


class ObjectiveForm(forms.Form):
    title = forms.CharField(max_length=200, label="Objective")
    metric = forms.ModelChoiceField(
        queryset=MetricDefinition.objects.order_by("name"),
        required=False,
        empty_label="No metric (progress by hand)",
    )
    target = forms.FloatField(required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if (data.get("metric") is None) != (data.get("target") is None):
            raise forms.ValidationError("A metric objective needs both a metric and a target.")
        return data


class MilestoneForm(forms.Form):
    title = forms.CharField(max_length=200, label="Milestone")
    due_date = forms.DateField(widget=DateInput, label="Due")


class ProgressForm(forms.Form):
    progress = forms.IntegerField(min_value=0, max_value=100, label="Progress %")
