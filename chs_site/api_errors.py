"""One JSON error shape for the whole API.

Every error response is ``{"error": "<what went wrong, in words>", "details": [...]}``.
``details`` lists each problem found: ``{"field": ..., "reason": ...}``, plus ``"index"``
for the item of a list it concerns (metrics ingest) or ``"line"`` for a CSV row. A 429 adds
``"retry_after"`` (seconds), also sent as the ``Retry-After`` header.

Status codes: 400 bad input (anything the schema refuses, also malformed JSON and a wrong
content type, so a client has one code to handle for "fix your request"), 401 missing or bad
key, 403 role or key scope does not allow it, 404 unknown or outside your scope, 405, 409
well-formed input that names something that does not exist or that you may not use (an
account, metric or user), or creates what exists (``chs_site.errors.Conflict``), 413 a body
over the size limit, 429 throttled.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from chs_site.errors import ApplicationError, Conflict, PermissionDenied, ValidationFailed


class ErrorDetailSerializer(serializers.Serializer):
    field = serializers.CharField(required=False)
    reason = serializers.CharField()
    index = serializers.IntegerField(required=False)
    line = serializers.IntegerField(required=False)


class ErrorSerializer(serializers.Serializer):
    """The body of every error response."""

    error = serializers.CharField()
    details = ErrorDetailSerializer(many=True)
    retry_after = serializers.IntegerField(required=False)


def flatten_validation_errors(detail: Any, prefix: str = "") -> list[dict[str, Any]]:
    """DRF's nested ``{"field": ["msg"], "measures": [{"weight": ["msg"]}]}`` as a flat list
    of ``{"field": "measures[0].weight", "reason": "msg"}``."""
    out: list[dict[str, Any]] = []
    if isinstance(detail, dict):
        for key, value in detail.items():
            if isinstance(key, int):  # a list serializer's errors, keyed by item index
                out.extend(flatten_validation_errors(value, f"{prefix}[{key}]"))
                continue
            name = "" if key == "non_field_errors" else str(key)
            path = f"{prefix}.{name}" if prefix and name else (prefix or name)
            out.extend(flatten_validation_errors(value, path))
    elif isinstance(detail, list):
        for i, value in enumerate(detail):
            if isinstance(value, dict | list):
                out.extend(flatten_validation_errors(value, f"{prefix}[{i}]"))
            else:
                out.append({"field": prefix or "body", "reason": str(value)})
    else:
        out.append({"field": prefix or "body", "reason": str(detail)})
    return out


def _error(message: str, details: list[dict[str, Any]] | None = None, **extra: Any) -> dict:
    return {"error": message, "details": details or [], **extra}


def normalise_details(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Services say ``reason`` (or ``message``); the API always says ``reason``, and an
    ``index`` is a number."""
    out = []
    for error in errors:
        item = {k: v for k, v in error.items() if k != "message"}
        item.setdefault("reason", error.get("message", ""))
        if isinstance(item.get("index"), str) and item["index"].isdigit():
            item["index"] = int(item["index"])
        out.append(item)
    return out


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ValidationFailed):
        code = (
            status.HTTP_409_CONFLICT if isinstance(exc, Conflict) else status.HTTP_400_BAD_REQUEST
        )
        return Response(_error(exc.message, normalise_details(exc.errors)), status=code)
    if isinstance(exc, PermissionDenied):
        return Response(_error(exc.message), status=status.HTTP_403_FORBIDDEN)
    if isinstance(exc, ApplicationError):
        code = exc.extra.get("status", status.HTTP_400_BAD_REQUEST)
        return Response(
            _error(exc.message, normalise_details(exc.extra.get("errors") or [])), status=code
        )
    if isinstance(exc, exceptions.UnsupportedMediaType):
        return Response(
            _error(
                f"Unsupported content type {exc.detail!s}; send JSON with "
                "'Content-Type: application/json'.",
                [{"field": "Content-Type", "reason": "must be application/json"}],
            ),
            status=status.HTTP_400_BAD_REQUEST,
        )

    response = exception_handler(exc, context)
    if response is None:
        return None  # a real bug: Django's 500 handler logs it
    headers = dict(response.items())
    if isinstance(exc, exceptions.ValidationError):
        details = flatten_validation_errors(exc.detail)
        noun = "problem" if len(details) == 1 else "problems"
        body = _error(f"The request is invalid: {len(details)} {noun}; see details.", details)
    elif isinstance(exc, exceptions.ParseError):
        body = _error(
            f"Malformed JSON: {exc.detail!s}",
            [{"field": "body", "reason": "not valid JSON"}],
        )
    elif isinstance(exc, exceptions.Throttled):
        wait = int(getattr(exc, "wait", None) or 1)
        body = _error(
            f"Too many requests with this API key; retry in {wait} second{'s' if wait != 1 else ''}.",
            retry_after=wait,
        )
    elif isinstance(exc, Http404 | exceptions.NotFound):
        body = _error("Not found (or outside your scope).")
    elif isinstance(exc, DjangoPermissionDenied):
        body = _error("You do not have permission to do this.")
    else:
        detail = response.data.get("detail") if isinstance(response.data, dict) else None
        body = _error(str(detail or response.data))
    return Response(body, status=response.status_code, headers=headers)
