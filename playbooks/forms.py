from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from django.forms import inlineformset_factory

from accounts.forms import PersonChoiceField
from accounts.models import HealthBand, LifecycleStage, User
from chs_site import formatting
from playbooks.models import (
    TRIGGER_FIELDS,
    Playbook,
    PlaybookAction,
    SuccessPlanTemplate,
    TaskPriority,
    TaskStatus,
    TriggerType,
    render_template,
    validate_task_template,
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
        title: str = self.cleaned_data["title"]
        validate_task_template(title)
        return title

    def clean_description(self) -> str:
        description: str = self.cleaned_data["description"]
        validate_task_template(description)
        return description

    def template_errors(self) -> list[str]:
        """The title's and description's template problems, for the preview to show."""
        return [
            f"{self.fields[name].label or name.capitalize()}: {error}"
            for name in ("title", "description")
            for error in self.errors.get(name, [])
        ]


class OutreachForm(OutreachTaskForm):
    band = forms.ChoiceField(choices=[("", "Any band"), *HealthBand.choices], required=False)
    segment = forms.ChoiceField(required=False, choices=[])
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

    def __init__(self, *args: Any, people: Any, segments: list[str], **kwargs: Any) -> None:
        super().__init__(*args, people=people, **kwargs)
        self.fields["segment"].choices = [("", "Any segment"), *((s, s) for s in segments)]  # type: ignore[attr-defined]


# The "days" field means something different under each trigger that reads it.
DAYS_FIELD_TEXT = {
    TriggerType.RENEWAL_WINDOW: (
        "Renews within (days)",
        "Fire while the renewal date is at most this many days away.",
    ),
    TriggerType.NO_ACTIVITY: (
        "Days without metric values",
        "Fire when no metric value has arrived for this many days.",
    ),
    TriggerType.NEGATIVE_FEEDBACK: (
        "Look back (days)",
        "Feedback from this many past days counts. Empty: 7.",
    ),
}
TRIGGER_HELP = {
    TriggerType.BAND_ENTERED: "Fires when an account's score moves it into the band.",
    TriggerType.SCORE_DROP: "Fires when the score falls at least this many points below its "
    "highest value within the window.",
    TriggerType.METRIC_THRESHOLD: "Fires when a metric's aggregate crosses the threshold.",
    TriggerType.RENEWAL_WINDOW: "Fires for accounts renewing soon while in one of the bands.",
    TriggerType.NEGATIVE_FEEDBACK: "Fires on an NPS answer of 0–6 or feedback marked negative.",
    TriggerType.NO_ACTIVITY: "Fires when an account's metrics go quiet.",
}
ALL_TRIGGER_FIELDS = {name for names in TRIGGER_FIELDS.values() for name in names}


class PlaybookForm(forms.ModelForm):
    """The playbook editor's form: the chosen trigger's fields only (the trigger comes from
    the submitted data, else the playbook's own), the conditions, with words for labels."""

    segments = forms.MultipleChoiceField(
        required=False,
        choices=[],
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: any segment.",
    )
    lifecycle_stages = forms.MultipleChoiceField(
        choices=LifecycleStage.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Lifecycle stages",
        help_text="None ticked: any stage.",
    )
    bands = forms.MultipleChoiceField(
        choices=HealthBand.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="While the band is",
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
        labels = {
            "enabled": "On: fire automatically",
            "cooldown_days": "Cooldown (days)",
            "auto_close": "Close tasks by themselves",
            "trigger_type": "Trigger",
            "band": "Band entered",
            "drop_points": "Drop of at least (points)",
            "drop_days": "Within (days)",
            "metric_aggregation": "Aggregate",
            "metric_window_days": "Over the last (days)",
            "threshold_direction": "Fire when it",
            "arr_min": "Minimum ARR",
            "arr_max": "Maximum ARR",
        }
        help_texts = {
            "teams": "None ticked: every team.",
            "threshold": "In the metric's own unit.",
        }

    def __init__(self, *args: Any, segments: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["metric"].queryset = MetricDefinition.objects.order_by("name")  # type: ignore[attr-defined]
        self.fields["metric"].empty_label = "Choose a metric"  # type: ignore[attr-defined]
        self.fields["band"].choices = [("", "Choose a band"), *HealthBand.choices]  # type: ignore[attr-defined]
        saved = list(self.instance.segments or [])
        self.fields["segments"].choices = [(s, s) for s in sorted({*segments, *saved})]  # type: ignore[attr-defined]
        currency = formatting.currency_symbol()
        for name, bound in (("arr_min", "no minimum"), ("arr_max", "no maximum")):
            self.fields[name].help_text = f"In {currency}. Empty: {bound}."
        self.trigger = self._chosen_trigger()
        # A playbook always has a trigger: the select starts on one, not on "---------".
        self.fields["trigger_type"].choices = TriggerType.choices  # type: ignore[attr-defined]
        if not self.initial.get("trigger_type"):
            self.initial["trigger_type"] = self.trigger
        self.fields["trigger_type"].help_text = TRIGGER_HELP[TriggerType(self.trigger)]
        for name in ALL_TRIGGER_FIELDS - set(TRIGGER_FIELDS.get(self.trigger, ())):
            del self.fields[name]
        if "days" in self.fields and self.trigger in DAYS_FIELD_TEXT:
            label, help_text = DAYS_FIELD_TEXT[TriggerType(self.trigger)]
            self.fields["days"].label, self.fields["days"].help_text = label, help_text

    def _chosen_trigger(self) -> str:
        submitted = self.data.get(self.add_prefix("trigger_type")) if self.is_bound else None
        if submitted in TRIGGER_FIELDS:
            return str(submitted)
        return self.instance.trigger_type or TriggerType.BAND_ENTERED

    @property
    def general_fields(self) -> list[forms.BoundField]:
        return [self[n] for n in ("name", "description", "enabled", "cooldown_days", "auto_close")]

    @property
    def trigger_fields(self) -> list[forms.BoundField]:
        return [self[n] for n in TRIGGER_FIELDS.get(self.trigger, ()) if n in self.fields]

    @property
    def condition_fields(self) -> list[forms.BoundField]:
        return [self[n] for n in ("segments", "arr_min", "arr_max", "lifecycle_stages", "teams")]


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
        ]
        widgets = {
            "title_template": forms.TextInput(attrs={"class": "template-input"}),
            "description_template": forms.Textarea(attrs={"rows": 2, "class": "template-input"}),
        }
        labels = {
            "kind": "Action",
            "title_template": "Task or message title",
            "description_template": "Description",
            "due_in_days": "Due in (days)",
            "assignee_rule": "For",
            "assignee_user": "Named user",
            "plan_template": "Success plan template",
        }
        help_texts = {
            "assignee_user": "Only when “For” is a named user.",
            "plan_template": "Only for “Start a success plan”.",
            "due_in_days": "Tasks only.",
        }
        field_classes = {"assignee_user": PersonChoiceField}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee_user"].queryset = User.objects.filter(is_active=True)  # type: ignore[attr-defined]
        self.fields["assignee_user"].empty_label = "Nobody named"  # type: ignore[attr-defined]
        self.fields["plan_template"].queryset = SuccessPlanTemplate.objects.all()  # type: ignore[attr-defined]
        self.fields["survey"].queryset = Survey.objects.all()  # type: ignore[attr-defined]
        self.fields["survey"].empty_label = "Choose a survey"  # type: ignore[attr-defined]
        self.fields["plan_template"].empty_label = "Choose a template"  # type: ignore[attr-defined]

    def preview(self, values: dict[str, Any]) -> ActionPreview:
        """This action's title and description filled with ``values`` (one real account's),
        or what is wrong with their templates. Reads the typed text, valid or not, so every
        preview checks the templates, not only saving."""
        kind = self["kind"].value() or PlaybookAction.Kind.CREATE_TASK
        texts = {
            "title_template": str(self["title_template"].value() or ""),
            "description_template": str(self["description_template"].value() or ""),
        }
        errors = []
        for name, text in texts.items():
            try:
                validate_task_template(text)
            except forms.ValidationError as exc:
                errors += [f"{self.fields[name].label}: {m}" for m in exc.messages]
        rendered = {} if errors else {n: render_template(t, values) for n, t in texts.items()}
        return ActionPreview(
            kind_label=PlaybookAction.Kind(kind).label
            if kind in PlaybookAction.Kind.values
            else str(kind),
            uses_text=kind != PlaybookAction.Kind.START_PLAN,
            title=rendered.get("title_template", ""),
            description=rendered.get("description_template", ""),
            errors=errors,
        )


@dataclass(frozen=True)
class ActionPreview:
    kind_label: str
    uses_text: bool
    title: str
    description: str
    errors: list[str]


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
