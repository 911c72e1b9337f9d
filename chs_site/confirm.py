"""Confirmation before consequences: an action that changes many rows at once (publish a
scorecard, roll back, backfill, run a playbook) first shows what it will do, and acts only
on a POST that carries the confirm field the confirmation step sends.

The same URL serves both: GET renders the confirmation (a page, or its fragment for htmx),
POST with ``confirm`` acts, POST without it is refused with the confirmation and a 400."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

CONFIRM_FIELD = "confirm"
CONFIRM_VALUE = "yes"
TEMPLATE = "includes/confirm.html"


@dataclass(frozen=True)
class Confirmation:
    """What the confirmation step says: a question, the consequences in sentences (counts
    from the action's own preview), the form that acts and where Cancel goes."""

    title: str
    question: str
    consequences: list[str]
    action_url: str
    submit_label: str
    cancel_url: str
    fields: list[tuple[str, Any]] = field(default_factory=list)
    danger: bool = False


def is_confirmed(request: HttpRequest) -> bool:
    return request.POST.get(CONFIRM_FIELD) == CONFIRM_VALUE


def render_confirmation(
    request: HttpRequest, confirmation: Confirmation, *, refused: bool = False
) -> HttpResponse:
    """The confirmation page (the fragment alone for htmx). ``refused``: a POST arrived
    without the confirm field; nothing was done, the page says so and answers 400."""
    template = TEMPLATE + "#confirmation" if getattr(request, "htmx", False) else TEMPLATE
    return render(
        request,
        template,
        {
            "confirmation": confirmation,
            "refused": refused,
            "confirm_field": CONFIRM_FIELD,
            "confirm_value": CONFIRM_VALUE,
        },
        status=400 if refused else 200,
    )


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``counted(1, "task")`` → "1 task", ``counted(58, "task")`` → "58 tasks"."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"
