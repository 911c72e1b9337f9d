"""Template filters of the scoring pages."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def pct(value: float | None, digits: int = 0) -> str:
    """A 0–1 rate as a percentage ("—" when there is none)."""
    if value is None:
        return "—"
    return f"{100 * float(value):.{int(digits)}f}%"
