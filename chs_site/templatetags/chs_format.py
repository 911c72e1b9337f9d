"""The formatting layer's template filters, built into every template (settings'
``TEMPLATES`` ``builtins``): ``money``, ``num``, ``when``, ``exact``. Each calls the one
rule in ``chs_site.formatting``; a missing value reads "—"."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from chs_site import formatting

register = template.Library()

MISSING = "—"


@register.filter
def money(value: Decimal | float | int | None) -> str:
    """An amount in the configured currency, whole units: "$12,300"."""
    return formatting.money(value) or MISSING


@register.filter
def num(value: Decimal | float | int | None, places: int = 1) -> str:
    """A number with at most ``places`` decimals and no trailing zeros: "5.1", "40"."""
    return formatting.number(value, places=int(places)) or MISSING


@register.filter
def when(value: dt.date | dt.datetime | None) -> SafeString | str:
    """A moment or day relative to now ("3 days ago", "in 2 days"), in a ``<time>`` whose
    ``datetime`` and title give it exactly ("Dec 4, 2026 14:05")."""
    if value is None:
        return MISSING
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        formatting.iso(value),
        formatting.absolute(value),
        formatting.relative(value),
    )


@register.filter
def exact(value: dt.date | dt.datetime | None) -> SafeString | str:
    """A day or moment in the site's one format ("Dec 4, 2026"), in a ``<time>``."""
    if value is None:
        return MISSING
    return format_html(
        '<time datetime="{}">{}</time>', formatting.iso(value), formatting.absolute(value)
    )
