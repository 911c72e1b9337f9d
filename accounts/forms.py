from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm

from accounts.models import User


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
