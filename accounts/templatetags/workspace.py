"""Small HTML pieces repeated on every portfolio row. As Python tags they cost microseconds;
as ``{% include %}`` templates they were most of the page's rendering time at 50 rows. The
whole row is one tag too (``portfolio_row``): at 50 rows its template's ~30 variable
lookups per row cost 8-12 ms of a 40-60 ms page."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from django import template
from django.template.defaultfilters import date as date_filter
from django.template.defaultfilters import floatformat
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from chs_site import formatting
from chs_site.charts import Sparkline

if TYPE_CHECKING:
    from accounts.models import Account

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
    """ARR in the configured currency, whole units: "$12,300"."""
    return formatting.money(value) or "—"


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


@register.simple_tag
def portfolio_row(account: Account, show_owner: bool = False) -> SafeString:
    """One portfolio table row: a tick box for bulk actions, account, band, score (override
    marked), 30-day trend, top mover, ARR, renewal, open tasks and (for managers and admins)
    the owner. ``data-row`` and ``data-open`` are what the keyboard shortcuts move between
    and open (static/js/shortcuts.js)."""
    if account.health_score is None:
        score = format_html('<span class="muted">{}</span>', "—")
    else:
        score = format_html("<strong>{}</strong>", floatformat(account.health_score, 1))
        if getattr(account, "overridden", False):
            computed = floatformat(account.computed_score, 1) or "—"
            score = format_html(
                '{} <span class="tag tag-override" title="Overridden; computed {}">override</span>',
                score,
                computed,
            )
    tasks = (
        str(account.open_task_count)
        if account.open_task_count
        else mark_safe('<span class="muted">0</span>')
    )
    owner = ""
    if show_owner:
        owner = format_html(
            "<td>{}</td>", account.owner.display_name if account.owner else "Unassigned"
        )
    return format_html(
        '<tr data-row><td class="select-cell"><input type="checkbox" name="account" value="{}" '
        'form="bulk-form" aria-label="Select {}"></td>'
        '<td><a class="account-link" data-open href="{}">{}</a><br>'
        '<span class="muted small">{} · {}</span></td>'
        "<td>{}</td>"
        '<td class="num">{}</td>'
        '<td class="num trend-cell">{} {}</td>'
        '<td class="mover small">{}</td>'
        '<td class="num">{}</td>'
        "<td>{}</td>"
        '<td class="num">{}</td>'
        "{}"
        "</tr>",
        account.external_id,
        account.name,
        account.get_absolute_url(),
        account.name,
        account.external_id,
        account.segment or "no segment",
        band_chip(account.health_band),
        score,
        sparkline_svg(getattr(account, "spark", None), account.health_band),
        trend_delta(account.score_change_30d),
        account.top_mover or "—",
        money(account.arr),
        date_filter(account.renewal_date, "M j, Y") or "—",
        tasks,
        owner,
    )


@register.filter
def short_money(value: Decimal | float | int | None) -> str:
    """An amount for a headline figure: "$950", "$12k", "$1.4M" (``formatting.money``)."""
    if value is None:
        return "—"
    return formatting.money(float(value))
