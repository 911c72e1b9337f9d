"""Where a page needs more than the site-wide Content-Security-Policy (settings.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from csp.decorators import csp_update

# Swagger UI draws its icons from data: URIs in its stylesheet.
SWAGGER_UI = {"img-src": ["data:"]}


def swagger_ui_policy(view: Callable[..., Any]) -> Callable[..., Any]:
    """``view`` with the API docs' additions, under the enforced and the report-only policy
    alike (django-csp adds them only to a policy that is configured)."""
    return csp_update(SWAGGER_UI)(csp_update(SWAGGER_UI, REPORT_ONLY=True)(view))
