from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils import timezone

from accounts.imports.reading import LOCALE_BY_DELIMITER, NUMBER_LOCALES
from accounts.imports.registry import choices as import_kind_choices
from accounts.imports.registry import kind_spec
from accounts.models import (
    ApiToken,
    Contact,
    Feedback,
    HealthBand,
    ImportJob,
    LifecycleStage,
    Team,
    User,
)
from accounts.selectors.portfolio import SORT_KEYS, PortfolioQuery
from accounts.services.feedback import SURVEY_KINDS, answer_kind
from chs_site.parsing import REFERENCE_LOCALE, is_in_future, number_example, number_locale_label


def sso_required_for(user: User) -> bool:
    """With ``SSO_REQUIRED``, everyone but admins signs in through the identity provider."""
    return bool(settings.SSO_REQUIRED) and not user.is_admin


class LoginForm(AuthenticationForm):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["username"].widget.attrs.update({"autocomplete": "username", "autofocus": True})
        self.fields["password"].widget.attrs.update({"autocomplete": "current-password"})

    def confirm_login_allowed(self, user: User) -> None:  # type: ignore[override]
        super().confirm_login_allowed(user)
        if sso_required_for(user):
            raise ValidationError(
                f"Your organisation signs in to CHS through single sign-on: "
                f"use “{settings.SSO_BUTTON_LABEL}” instead of a password.",
                code="sso_required",
            )


class SSOAwarePasswordResetForm(PasswordResetForm):
    """Django's reset form (the same answer whether or not the address is known), sending
    no link to people who must sign in through single sign-on."""

    def get_users(self, email: str) -> Iterator[Any]:
        return (user for user in super().get_users(email) if not sso_required_for(user))


class PortfolioFilterForm(forms.Form):
    """Portfolio filters; every field is optional and lives in the URL's query string, so a
    filtered view is a bookmark and the back button restores it. A bad value is reported
    next to its field and ignored; the other filters still apply."""

    q = forms.CharField(required=False, max_length=100, label="Search")
    band = forms.ChoiceField(
        required=False,
        choices=[("", "All bands"), *HealthBand.choices, ("none", "No data")],
    )
    segment = forms.CharField(required=False, max_length=50)
    stage = forms.ChoiceField(
        required=False, label="Lifecycle", choices=[("", "All stages"), *LifecycleStage.choices]
    )
    renewal_within = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=3650,
        label="Renews within (days)",
        widget=forms.NumberInput(attrs={"placeholder": "e.g. 90", "inputmode": "numeric"}),
    )
    dropped_by = forms.FloatField(
        required=False,
        min_value=0,
        max_value=100,
        label="Dropped ≥ (30 days)",
        widget=forms.NumberInput(attrs={"placeholder": "points", "inputmode": "decimal"}),
    )
    owner = forms.CharField(required=False, max_length=150)
    sort = forms.ChoiceField(
        required=False,
        choices=[(k, k) for k in SORT_KEYS] + [(f"-{k}", f"-{k}") for k in SORT_KEYS],
        widget=forms.HiddenInput,
    )

    def __init__(
        self,
        *args: Any,
        user: User,
        segments: list[str],
        owners: QuerySet[User] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["segment"].widget = forms.Select(
            choices=[("", "All segments"), *[(s, s) for s in segments]]
        )
        if owners is not None:
            self.fields["owner"].widget = forms.Select(
                choices=[("", "Everyone"), *[(u.username, u.display_name) for u in owners]]
            )
        self.user = user

    def to_query(self) -> PortfolioQuery:
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return PortfolioQuery(
            search=(data.get("q") or "").strip(),
            band=data.get("band") or "",
            segment=data.get("segment") or "",
            stage=data.get("stage") or "",
            renewal_within=data.get("renewal_within"),
            dropped_by=data.get("dropped_by"),
            owner=data.get("owner") or "",
            sort=data.get("sort") or "account",
        )


class FeedbackForm(forms.Form):
    """Log what happened with the customer. NPS and CSAT answers need their score; the
    service checks the rules again, so the API and CSV imports get the same messages."""

    kind = forms.ChoiceField(choices=Feedback.Kind.choices, initial=Feedback.Kind.NOTE)
    survey = forms.ChoiceField(
        required=False,
        label="Survey answer in the call",
        choices=[("", "None"), *Feedback.Survey.choices],
        help_text="A call or meeting where the customer gave an NPS or CSAT answer.",
    )
    score = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=10,
        help_text="NPS 0–10 or CSAT 1–5; leave empty for notes and emails.",
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
    sentiment = forms.ChoiceField(required=False, choices=[("", "—"), *Feedback.Sentiment.choices])
    text = forms.CharField(
        required=False,
        max_length=5000,
        label="Note",
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "What was said or agreed?"}),
    )
    occurred_at = forms.DateTimeField(
        required=False,
        label="When",
        help_text="Leave empty for now.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )

    def clean_occurred_at(self) -> dt.datetime | None:
        value: dt.datetime | None = self.cleaned_data.get("occurred_at")
        if value is not None and is_in_future(value, timezone.now()):
            raise forms.ValidationError("This is in the future; log what already happened.")
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind, score, survey = data.get("kind"), data.get("score"), data.get("survey") or ""
        if survey and kind not in SURVEY_KINDS:
            self.add_error(
                "survey", "Only a call or a meeting carries a survey answer; choose one of them."
            )
        scale = answer_kind(kind or "", survey)
        if scale == Feedback.Kind.NPS:
            if score is None:
                self.add_error("score", "An NPS answer needs a score from 0 to 10.")
        elif scale == Feedback.Kind.CSAT:
            if score is None:
                self.add_error("score", "A CSAT answer needs a score from 1 to 5.")
            elif not 1 <= score <= 5:
                self.add_error("score", f"CSAT is 1 to 5; {score} is outside that range.")
        elif kind and score is not None:
            self.add_error(
                "score",
                "Only NPS and CSAT answers have a score; choose one (or, for a call or "
                "meeting, the survey the answer belongs to) or clear the score.",
            )
        if kind in {Feedback.Kind.NOTE, Feedback.Kind.CALL, Feedback.Kind.MEETING} and not (
            data.get("text") or data.get("sentiment")
        ):
            self.add_error(
                "text", "Write a short note or pick a sentiment, so the log says something."
            )
        return data


class ContactForm(forms.ModelForm):
    """A person at the customer. The contacts service checks the rules again (a second
    contact with the same email on one account, a phone number without digits), so every
    caller gets the same messages."""

    class Meta:
        model = Contact
        fields = ["name", "title", "email", "phone", "is_champion", "is_decision_maker"]
        labels = {"title": "Role", "is_champion": "Champion", "is_decision_maker": "Decision-maker"}
        help_texts = {"title": "Their job or their part in the deal, e.g. VP Operations."}
        widgets = {
            "email": forms.EmailInput(attrs={"autocomplete": "off"}),
            "phone": forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "off"}),
        }


class OverrideForm(forms.Form):
    """Override the shown score or band. A reason and an expiry are required so that a
    judgement call never silently outlives its cause."""

    score = forms.FloatField(
        required=False,
        min_value=0,
        max_value=100,
        help_text="0–100; or leave empty and pick a band.",
    )
    band = forms.ChoiceField(required=False, choices=[("", "—"), *HealthBand.choices])
    reason = forms.CharField(
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Why the computed score is wrong"}),
        error_messages={"required": "Say why you override the score; others will read it."},
    )
    expires_at = forms.DateField(
        label="Expires on",
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"required": "Pick the day the override ends (at most 180 days ahead)."},
    )

    MAX_DAYS = 180

    def clean_expires_at(self) -> dt.date:
        value: dt.date = self.cleaned_data["expires_at"]
        today = timezone.localdate()
        if value <= today:
            raise forms.ValidationError("The expiry must be after today.")
        if value > today + dt.timedelta(days=self.MAX_DAYS):
            raise forms.ValidationError(
                f"An override lasts at most {self.MAX_DAYS} days; pick an earlier date."
            )
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("score") is None and not data.get("band") and "score" not in self.errors:
            self.add_error("score", "Give a score or a band to show instead of the computed one.")
        return data

    def expires_at_datetime(self) -> dt.datetime:
        day: dt.date = self.cleaned_data["expires_at"]
        return timezone.make_aware(dt.datetime.combine(day, dt.time(23, 59)))


class PersonChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.display_name} ({obj.get_role_display()})"


class OwnerForm(forms.Form):
    owner = PersonChoiceField(
        queryset=User.objects.none(),
        label="New owner",
        empty_label="Choose a person",
        error_messages={
            "required": "Choose the person who takes the account over.",
            "invalid_choice": "That person is not in your team; pick someone from the list.",
        },
    )

    def __init__(self, *args: Any, choices: QuerySet[User], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["owner"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = choices


NUMBER_FORMAT_HELP = (
    "The locale the file's numbers are written in, for every number column. A number "
    "written another way, or one English would read differently (1,234 in a decimal-comma "
    "locale), is a row error, never a guess."
)


def number_locale_choices(current: str | None = None) -> list[tuple[str, str]]:
    offered = [*NUMBER_LOCALES, *([current] if current and current not in NUMBER_LOCALES else [])]
    return [(locale, number_locale_label(locale)) for locale in offered]


def _guess_label() -> str:
    semicolon = LOCALE_BY_DELIMITER[";"]
    return (
        f"From the delimiter: “;” files as {semicolon} ({number_example(semicolon)}), "
        f"others as {REFERENCE_LOCALE} ({number_example(REFERENCE_LOCALE)})"
    )


class ImportUploadForm(forms.Form):
    kind = forms.ChoiceField(label="What the file holds", choices=import_kind_choices)
    file = forms.FileField(
        label="CSV file",
        help_text="UTF-8 CSV with a header row; commas or semicolons. Any size: it is streamed.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )
    number_locale = forms.ChoiceField(
        label="Numbers are written like",
        required=False,
        help_text=NUMBER_FORMAT_HELP,
        widget=forms.Select(attrs={"aria-describedby": "number-format-help"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["number_locale"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", _guess_label()), *number_locale_choices()]


class ImportMappingForm(forms.Form):
    """One select per field of the import kind (which column holds it); for kinds that map
    extra columns (wide metric files) also one select per column (the key it holds, from
    ``extra_keys``)."""

    def __init__(self, *args: Any, job: ImportJob, extra_keys: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.job = job
        kind = kind_spec(job.kind)
        self.extra_key = kind.extra_columns
        mapping = job.mapping or {}
        fields = mapping.get("fields") or {}
        self.fields["number_locale"] = forms.ChoiceField(
            label="Numbers are written like",
            choices=number_locale_choices(job.number_locale),
            initial=job.number_locale,
            required=False,  # left out: the job keeps its locale
            help_text=NUMBER_FORMAT_HELP,
            widget=forms.Select(attrs={"aria-describedby": "number-format-help"}),
        )
        columns = [("", "— not in the file —"), *[(c, c) for c in job.header]]
        for spec in kind.fields:
            label = f"{spec.label}{' (required)' if spec.required else ''}"
            self.fields[f"field__{spec.name}"] = forms.ChoiceField(
                label=label,
                choices=columns,
                required=False,
                initial=fields.get(spec.name, ""),
                help_text=spec.help,
            )
        self.metric_columns: list[tuple[str, str]] = []
        if self.extra_key:
            metrics = mapping.get(self.extra_key) or {}
            choices = [("", "— ignore this column —"), *[(k, k) for k in extra_keys]]
            for index, column in enumerate(job.header):
                name = f"metric__{index}"
                self.metric_columns.append((name, column))
                self.fields[name] = forms.ChoiceField(
                    label=f"Column “{column}”",
                    choices=choices,
                    required=False,
                    initial=metrics.get(column, ""),
                )

    def field_rows(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if name.startswith("field__")]

    def metric_rows(self) -> list[forms.BoundField]:
        return [self[name] for name, _ in self.metric_columns]

    def mapping(self) -> dict[str, Any]:
        data = self.cleaned_data
        fields = {
            name.removeprefix("field__"): value
            for name, value in data.items()
            if name.startswith("field__") and value
        }
        used = set(fields.values())
        metrics = {
            column: data[name]
            for name, column in self.metric_columns
            if data.get(name) and column not in used
        }
        out: dict[str, Any] = {"fields": fields}
        if self.extra_key:
            out[self.extra_key] = metrics
        return out


class ApiTokenForm(forms.Form):
    user = forms.ModelChoiceField(
        label="Acts as user",
        queryset=User.objects.filter(is_active=True).order_by("username"),
        to_field_name="username",
        help_text="The key sees and changes what this user's role allows.",
    )
    scope = forms.ChoiceField(choices=ApiToken.Scope.choices, initial=ApiToken.Scope.INGEST)
    name = forms.CharField(
        label="What it is for", max_length=100, required=False, help_text="e.g. “Segment sync”"
    )


class SavedViewForm(forms.Form):
    """Name a portfolio view; managers and admins may share it with a team they lead."""

    name = forms.CharField(max_length=80, label="View name")
    team = forms.ModelChoiceField(
        queryset=Team.objects.none(),
        required=False,
        empty_label="Only me",
        label="Share with",
    )
    make_default = forms.BooleanField(required=False, label="Open my portfolio with it")

    def __init__(self, *args: Any, teams: QuerySet[Team], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["team"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = teams
