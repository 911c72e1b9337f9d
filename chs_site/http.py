"""Request types for views, so handlers see ``request.user`` as CHS's User, and the htmx
events pages of several apps send."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails

if TYPE_CHECKING:  # for type checkers only: chs_site's helpers import no app
    from accounts.models import User


# Sent (``HX-Trigger``) after any action on an account, whichever app's view did it: the
# account page refetches its head (owner, tab counts) and its timeline.
ACCOUNT_CHANGED = "account-changed"


class AuthedRequest(HttpRequest):
    user: User  # type: ignore[assignment]
    htmx: HtmxDetails
