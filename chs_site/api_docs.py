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
    409: (
        "Well-formed, but it names something that does not exist or that you may not use "
        "(an account, metric or user), or creates what already exists; see `details`."
    ),
    413: "The body is larger than the server accepts; send it in parts.",
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
    409: {
        "error": "The owner cannot be used.",
        "details": [
            {"field": "owner", "reason": "'jdoe' is not someone you may assign accounts to"}
        ],
    },
    413: {
        "error": "The request body is larger than the 20971520 bytes allowed; send it in parts.",
        "details": [{"field": "body", "reason": "more than 20971520 bytes"}],
    },
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


INGEST_NO_CONTENT = {
    204: OpenApiResponse(
        description=(
            "Stored, sent with an `ingest` key: such a key cannot read, so the answer has no "
            "body (the same write with a `write` key answers the resource)."
        )
    )
}
