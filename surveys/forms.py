from __future__ import annotations

from typing import Any

from django import forms

from accounts.models import HealthBand, LifecycleStage
from surveys.models import SurveyKind
from surveys.selectors import SCALES, AudienceFilters
from surveys.services.answers import COMMENT_MAX


class SurveyForm(forms.Form):
    name = forms.CharField(max_length=150, help_text="For staff: e.g. “Quarterly NPS”.")
    kind = forms.ChoiceField(choices=SurveyKind.choices, label="Scale")
    question = forms.CharField(
        max_length=300,
        initial="How likely are you to recommend us to a friend or colleague?",
        widget=forms.TextInput(attrs={"size": 60}),
    )
    follow_up = forms.CharField(
        max_length=300,
        label="Follow-up question",
        initial="What is the main reason for your score?",
        help_text="Shown above the comment box.",
        widget=forms.TextInput(attrs={"size": 60}),
    )


class AudienceForm(forms.Form):
    segments = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, help_text="None ticked: any."
    )
    bands = forms.MultipleChoiceField(
        choices=HealthBand.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Health bands",
        help_text="None ticked: any.",
    )
    lifecycle_stages = forms.MultipleChoiceField(
        choices=LifecycleStage.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Lifecycle stages",
        help_text="None ticked: any.",
    )
    renewal_within_days = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=3650,
        label="Renews within (days)",
        help_text="Empty: any renewal date.",
    )
    contact_title = forms.CharField(
        required=False,
        max_length=100,
        label="Contact's role contains",
        help_text="Matched against the contact's title, e.g. “VP” or “Admin”.",
    )
    primary_only = forms.BooleanField(required=False, label="Primary contacts only")

    def __init__(self, *args: Any, segments: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["segments"].choices = [(s, s) for s in segments]  # type: ignore[attr-defined]

    def filters(self) -> AudienceFilters:
        d = self.cleaned_data
        return AudienceFilters(
            segments=list(d["segments"]),
            bands=list(d["bands"]),
            lifecycle_stages=list(d["lifecycle_stages"]),
            renewal_within_days=d["renewal_within_days"],
            contact_title=d["contact_title"].strip(),
            primary_only=d["primary_only"],
        )

    def hidden_fields_for_confirmation(self) -> list[tuple[str, Any]]:
        """The filters as (name, value) pairs, for the confirmation step to post back."""
        pairs: list[tuple[str, Any]] = []
        for name in ("segments", "bands", "lifecycle_stages"):
            pairs += [(name, v) for v in self.cleaned_data[name]]
        if self.cleaned_data["renewal_within_days"] is not None:
            pairs.append(("renewal_within_days", self.cleaned_data["renewal_within_days"]))
        if self.cleaned_data["contact_title"]:
            pairs.append(("contact_title", self.cleaned_data["contact_title"]))
        if self.cleaned_data["primary_only"]:
            pairs.append(("primary_only", "on"))
        return pairs


class AnswerForm(forms.Form):
    score = forms.TypedChoiceField(
        coerce=int,
        widget=forms.RadioSelect,
        error_messages={"required": "Choose a score.", "invalid_choice": "Choose a score."},
    )
    comment = forms.CharField(
        required=False,
        max_length=COMMENT_MAX,
        widget=forms.Textarea(attrs={"rows": 4}),
    )

    def __init__(self, *args: Any, kind: str, follow_up: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["score"].choices = [(s, str(s)) for s in SCALES[SurveyKind(kind)]]  # type: ignore[attr-defined]
        self.fields["comment"].label = follow_up
