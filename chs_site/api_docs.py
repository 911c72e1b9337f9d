"""Shared pieces of the OpenAPI description: the error responses every endpoint may give."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiResponse

from chs_site.api_errors import ErrorSerializer

_ERROR_TEXT = {
    400: "Bad input: each problem is listed in `details` (index/field/reason); nothing was stored.",
    401: "No API key, or an unknown or revoked one.",
    403: "Your role or your key's scope does not allow this.",
    404: "Not found, or outside your scope (the two look the same).",
    429: "Too many requests with this key; retry after `retry_after` seconds.",
}

_ERROR_EXAMPLES = {
    400: {
        "error": "1 of 2 items is invalid; nothing was stored.",
        "details": [
            {
                "index": 1,
                "field": "value",
                "reason": "must be a finite number (NaN and Infinity are not allowed)",
            }
        ],
    },
    401: {"error": "Unknown API key.", "details": []},
    403: {
        "error": "This API key has the 'read' scope, which cannot change this resource; use a key with the 'write' scope.",
        "details": [],
    },
    404: {"error": "Not found (or outside your scope).", "details": []},
    429: {
        "error": "Too many requests with this API key; retry in 12 seconds.",
        "details": [],
        "retry_after": 12,
    },
}


def error_responses(*codes: int) -> dict[int, Any]:
    """``responses=`` entries for the given error codes (401, 403 and 429 always apply)."""
    wanted = sorted({*codes, 401, 403, 429})
    return {
        code: OpenApiResponse(
            response=ErrorSerializer,
            description=_ERROR_TEXT[code],
            examples=[
                OpenApiExample(
                    f"error {code}",
                    value=_ERROR_EXAMPLES[code],
                    response_only=True,
                    status_codes=[str(code)],
                )
            ],
        )
        for code in wanted
    }
