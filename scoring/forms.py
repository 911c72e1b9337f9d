"""Forms of the scorecard editor, the backfill, the validation page and outcome entry."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.forms import BaseFormSet, formset_factory

from chs_site.formatting import number
from scoring import engine
from scoring.models import Measure, MetricDefinition, Outcome, Scorecard
from scoring.services.backfill import BACKFILL_MAX_DAYS
from scoring.validation import LEAD_DAYS_DEFAULT


class ScorecardForm(forms.Form):
    name = forms.CharField(max_length=120)
    red_below = forms.FloatField(
        min_value=0, max_value=100, label="Red below", help_text="Scores under this are red."
    )
    green_at = forms.FloatField(
        min_value=0, max_value=100, label="Green at", help_text="Scores from this up are green."
    )
    missing_data = forms.ChoiceField(choices=Scorecard.MissingData.choices, label="Missing data")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        red, green = data.get("red_below"), data.get("green_at")
        if red is not None and green is not None and red > green:
            self.add_error("green_at", "Green must start at or above where red ends.")
        return data


class MeasureForm(forms.Form):
    metric = forms.ChoiceField(choices=())
    weight = forms.FloatField(min_value=0.01, max_value=1000)
    aggregation = forms.ChoiceField(choices=Measure.Aggregation.choices, initial="latest")
    window_days = forms.IntegerField(min_value=1, max_value=3650, label="Window (days)", initial=30)
    bad = forms.FloatField(help_text="Value worth 0 points.")
    good = forms.FloatField(help_text="Value worth 100 points (below bad: lower is better).")

    def __init__(self, *args: Any, metrics: list[tuple[str, str]] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        field = self.fields["metric"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", "— add a measure —"), *(metrics or [])]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("bad") is not None and data.get("bad") == data.get("good"):
            self.add_error("good", "Bad and good must be different numbers.")
        return data


class BaseMeasureFormSet(BaseFormSet):  # type: ignore[type-arg]
    def clean(self) -> None:
        if any(self.errors):
            return
        kept = [f for f in self.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]
        if not kept:
            raise forms.ValidationError("A scorecard needs at least one measure.")


MeasureFormSet = formset_factory(
    MeasureForm, formset=BaseMeasureFormSet, extra=1, can_delete=True, max_num=30
)


def metric_choices() -> list[tuple[str, str]]:
    return list(MetricDefinition.objects.order_by("name").values_list("key", "name"))


def weight_shares(formset: Any) -> dict[str, str]:
    """Each measure row's weight as its share of all weights ("40%"), by the row's prefix:
    what a weight means is its share, not its number. Rows being removed, without a
    metric or without a valid positive weight have none. The editor's script
    (``static/js/weight_shares.js``) recomputes the same as the admin types."""
    weights: dict[str, float] = {}
    for form in formset.forms:
        if form["DELETE"].value() or not form["metric"].value():
            continue
        try:
            weight = float(form["weight"].value())
        except (TypeError, ValueError):
            continue
        if weight > 0:
            weights[form.prefix] = weight
    total = sum(weights.values())
    return {p: f"{number(100 * w / total)}%" for p, w in weights.items()} if total else {}


def editor_forms(
    scorecard: Scorecard, data: Any = None
) -> tuple[ScorecardForm, Any, dict[str, str]]:
    """The scorecard form and measure formset, bound to ``data`` or filled from the card."""
    metrics = metric_choices()
    names = dict(metrics)
    if data is not None:
        return (
            ScorecardForm(data),
            MeasureFormSet(data, prefix="m", form_kwargs={"metrics": metrics}),
            names,
        )
    initial = [
        {
            "metric": m.metric.key,
            "weight": m.weight,
            "aggregation": m.aggregation,
            "window_days": m.window_days,
            "bad": m.bad,
            "good": m.good,
        }
        for m in scorecard.measures.select_related("metric")
    ]
    return (
        ScorecardForm(
            initial={
                "name": scorecard.name,
                "red_below": scorecard.red_below,
                "green_at": scorecard.green_at,
                "missing_data": scorecard.missing_data,
            }
        ),
        MeasureFormSet(initial=initial, prefix="m", form_kwargs={"metrics": metrics}),
        names,
    )


def kept_measures(formset: Any) -> list[dict[str, Any]]:
    return [
        {k: v for k, v in f.cleaned_data.items() if k != "DELETE"}
        for f in formset.forms
        if f.cleaned_data and not f.cleaned_data.get("DELETE")
    ]


def spec_from_forms(
    scorecard: Scorecard, form: ScorecardForm, formset: Any, names: dict[str, str]
) -> engine.ScorecardSpec:
    """The engine's view of the draft as edited (valid forms only; nothing saved)."""
    data = form.cleaned_data
    return engine.ScorecardSpec(
        id=scorecard.pk,
        name=data["name"],
        red_below=data["red_below"],
        green_at=data["green_at"],
        missing_data=data["missing_data"],
        measures=tuple(
            engine.MeasureSpec(
                metric=m["metric"],
                name=names.get(m["metric"], m["metric"]),
                weight=m["weight"],
                aggregation=m["aggregation"],
                window_days=m["window_days"],
                bad=m["bad"],
                good=m["good"],
            )
            for m in kept_measures(formset)
        ),
    )


def draft_data(form: ScorecardForm, formset: Any) -> dict[str, Any]:
    """What ``scoring.services.scorecards.update_scorecard_draft`` takes."""
    return {**form.cleaned_data, "measures": kept_measures(formset)}


class SegmentForm(forms.Form):
    segment = forms.CharField(max_length=50, help_text="Accounts with exactly this segment.")

    def clean_segment(self) -> str:
        segment = self.cleaned_data["segment"].strip()
        if not segment:
            raise forms.ValidationError("Name the segment.")
        if Scorecard.objects.filter(segment=segment).exists():
            raise forms.ValidationError(
                f"Segment {segment!r} already has a scorecard; edit it instead."
            )
        return segment


class BackfillForm(forms.Form):
    days = forms.IntegerField(
        min_value=1,
        max_value=BACKFILL_MAX_DAYS,
        initial=90,
        label="Days of history",
        help_text="Rewrite this many past days of score history with this version.",
    )


class ValidationForm(forms.Form):
    scorecard = forms.ModelChoiceField(queryset=Scorecard.objects.none(), required=False)
    lead_days = forms.IntegerField(
        min_value=1, max_value=730, initial=LEAD_DAYS_DEFAULT, required=False, label="Lead (days)"
    )

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        field = self.fields["scorecard"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = Scorecard.objects.order_by("segment", "-version")


class OutcomeForm(forms.Form):
    kind = forms.ChoiceField(choices=Outcome.Kind.choices, label="Outcome")
    occurred_at = forms.DateField(
        label="Date", widget=forms.DateInput(attrs={"type": "date"}), initial=dt.date.today
    )
    arr_change = forms.DecimalField(
        max_digits=14, decimal_places=2, initial=0, label="ARR change", required=False
    )
    note = forms.CharField(required=False, max_length=500, widget=forms.TextInput)


class SegmentIngestForm(forms.Form):
    """The Segment endpoint's settings (``scoring.services.segment_settings``)."""

    enabled = forms.BooleanField(
        required=False,
        label="Accept Segment messages",
        help_text="Off: the endpoint answers 403 and stores nothing.",
    )
    group_trait = forms.CharField(
        required=False,
        max_length=64,
        label="Group trait with the account id",
        help_text="A trait of group calls holding the account's external id. Blank: the groupId is it.",
    )
    identify_trait = forms.CharField(
        required=False,
        max_length=64,
        label="Identify trait with the account id",
        help_text="A trait of identify calls holding the account's external id (e.g. company_id). Blank: identify links nothing.",
    )
    tracked_events = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Events counted per day",
        help_text="Each selected track event gets a daily metric of its own.",
    )
    more_events = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Other event names",
        help_text="Names not seen yet, one per line, exactly as your app sends them.",
    )

    def __init__(self, *args: Any, event_names: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["tracked_events"]
        assert isinstance(field, forms.MultipleChoiceField)
        field.choices = [(n, n) for n in event_names]

    def selected_events(self) -> list[str]:
        typed = self.cleaned_data["more_events"].splitlines()
        return [*self.cleaned_data["tracked_events"], *typed]
