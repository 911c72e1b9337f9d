"""Request types for views, so handlers see ``request.user`` as our User."""

from __future__ import annotations

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails

from accounts.models import User


class AuthedRequest(HttpRequest):
    user: User  # type: ignore[assignment]
    htmx: HtmxDetails
