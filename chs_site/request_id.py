"""A request id on every log line written while a request is served.

The middleware takes the id a proxy sent (``X-Request-ID``, when it is a short token) or
makes one, answers it in the same header, and keeps it in a context variable; the logging
filter puts it on each record as ``request_id`` (``None`` outside a request: workers,
commands), so the JSON log lines of one request can be found together.
"""

from __future__ import annotations

import contextvars
import logging
import re
import uuid
from collections.abc import Callable
from typing import Any

from django.core.signals import request_finished
from django.http import HttpRequest, HttpResponse

HEADER = "X-Request-ID"
_META_KEY = "HTTP_X_REQUEST_ID"
# What a proxy's id may look like: letters, digits and - _ . : (a UUID, a trace id).
_ACCEPTED = re.compile(r"[A-Za-z0-9._:-]{1,128}")

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        sent = request.META.get(_META_KEY, "")
        request_id = sent if _ACCEPTED.fullmatch(sent) else uuid.uuid4().hex
        # Kept until the response is closed: Django logs a 4xx or 5xx answer after the
        # middleware has returned it.
        _current.set(request_id)
        response = self.get_response(request)
        response[HEADER] = request_id
        return response


def _forget_request_id(**_: Any) -> None:
    _current.set(None)


request_finished.connect(_forget_request_id, dispatch_uid="chs_site.request_id")


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _current.get()
        return True
