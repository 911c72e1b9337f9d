"""Errors that carry a message a person can act on."""

from __future__ import annotations


class ApplicationError(Exception):
    """A service refused to do something; ``message`` says why and what to do instead."""

    def __init__(self, message: str, *, extra: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


class ValidationFailed(ApplicationError):
    """Input did not validate. ``errors`` lists each problem (index/row, field, reason)."""

    def __init__(self, message: str, *, errors: list[dict] | None = None) -> None:
        super().__init__(message, extra={"errors": errors or []})
        self.errors = errors or []


class Conflict(ValidationFailed):
    """Well-formed input that cannot be applied to the data as it stands: it names
    something that does not exist or that the caller may not use (an account, a metric, a
    user), or creates what already exists. The API answers 409, pages show it like any
    other validation error."""


class PermissionDenied(ApplicationError):
    pass
