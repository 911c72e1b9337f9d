from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm

from accounts.importing import KIND_FIELDS
from accounts.models import ApiToken, ImportJob, ImportKind, User


class LoginForm(AuthenticationForm):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["username"].widget.attrs.update({"autocomplete": "username", "autofocus": True})
        self.fields["password"].widget.attrs.update({"autocomplete": "current-password"})


class PortfolioFilterForm(forms.Form):
    """Portfolio filters; every field is optional and lives in the URL's query string."""

    q = forms.CharField(required=False, max_length=100, label="Search")
    segment = forms.CharField(required=False, max_length=50)
    owner = forms.CharField(required=False, max_length=150)

    def __init__(self, *args: object, user: User, segments: list[str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["segment"].widget = forms.Select(
            choices=[("", "All segments"), *[(s, s) for s in segments]]
        )
        self.user = user


class ImportUploadForm(forms.Form):
    kind = forms.ChoiceField(label="What the file holds", choices=ImportKind.choices)
    file = forms.FileField(
        label="CSV file",
        help_text="UTF-8 CSV with a header row; commas or semicolons. Any size: it is streamed.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )


class ImportMappingForm(forms.Form):
    """One select per field of the import kind (which column holds it); for wide metric
    files also one select per remaining column (which metric it holds)."""

    def __init__(self, *args: Any, job: ImportJob, metric_keys: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.job = job
        mapping = job.mapping or {}
        fields = mapping.get("fields") or {}
        columns = [("", "— not in the file —"), *[(c, c) for c in job.header]]
        for spec in KIND_FIELDS[job.kind]:
            label = f"{spec.label}{' (required)' if spec.required else ''}"
            self.fields[f"field__{spec.name}"] = forms.ChoiceField(
                label=label,
                choices=columns,
                required=False,
                initial=fields.get(spec.name, ""),
                help_text=spec.help,
            )
        self.metric_columns: list[tuple[str, str]] = []
        if job.kind == ImportKind.METRICS_WIDE:
            metrics = mapping.get("metrics") or {}
            choices = [("", "— ignore this column —"), *[(k, k) for k in metric_keys]]
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
        return {"fields": fields, "metrics": metrics}


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
