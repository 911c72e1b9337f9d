"""Request middleware of the accounts app."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase

from accounts.services.audit import Source, audit_origin


class AuditOriginMiddleware:
    """Audit entries recorded while a request is handled come from it: its user (or API
    key, which DRF sets on the request later, when the view authenticates), its address
    and user agent."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        source = Source.API if request.path.startswith("/api/") else Source.WEB
        with audit_origin(source, request=request):
            return self.get_response(request)
