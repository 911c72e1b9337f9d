"""Small HTML pieces repeated on every portfolio row. As Python tags they cost microseconds;
as ``{% include %}`` templates they were most of the page's rendering time at 50 rows."""

from __future__ import annotations

from decimal import Decimal

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from accounts.charts import Sparkline

register = template.Library()

BAND_LABELS = {"red": "Red", "yellow": "Yellow", "green": "Green"}


@register.simple_tag
def band_chip(band: str | None) -> SafeString:
    """The band as a chip: colour and a text label (never colour alone)."""
    if band in BAND_LABELS:
        return format_html('<span class="band band-{}">{}</span>', band, BAND_LABELS[band])
    return format_html('<span class="band band-none">{}</span>', "No data")


@register.simple_tag
def sparkline_svg(spark: Sparkline | None, band: str | None = "") -> SafeString:
    """The 30-day trend as a tiny inline SVG with a text alternative."""
    if spark is None:
        return format_html('<span class="muted small">{}</span>', "no history")
    return format_html(
        '<svg class="spark" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" '
        'aria-label="{label}"><title>{label}</title><polyline points="{points}" fill="none" '
        'stroke="currentColor" stroke-width="1.6" stroke-linejoin="round"/>'
        '<circle cx="{x}" cy="{y}" r="2.6" class="spark-end spark-{band}"/></svg>',
        w=spark.width,
        h=spark.height,
        label=spark.summary,
        points=spark.points,
        x=spark.end_x,
        y=spark.end_y,
        band=band or "none",
    )


@register.filter
def money(value: Decimal | float | int | None) -> str:
    """ARR as "$12,300" (whole dollars)."""
    if value is None:
        return "—"
    return f"${value:,.0f}"


@register.simple_tag
def trend_delta(change: float | None) -> SafeString:
    """The 30-day change with an arrow and a colour class; empty without history."""
    if change is None:
        return mark_safe("")
    if change > 0:
        return format_html('<span class="delta delta-up">▲ +{}</span>', f"{change:.1f}")
    if change < 0:
        return format_html('<span class="delta delta-down">▼ {}</span>', f"{change:.1f}")
    return format_html('<span class="delta">{}</span>', "0.0")
