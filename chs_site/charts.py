"""Server-rendered charts, one module for the whole product: plain SVG geometry for the
charts over dates that the account page draws on every view (the score trend, one chart per
measure, the portfolio's sparklines), pygal for the bar charts and the validation charts.

One palette, Okabe & Ito's (2008, "Color Universal Design"): distinguishable with every
common form of colour blindness, with the bands always vermillion, orange and bluish green.
Every series has a text label in the legend (and bar charts print their values), so colour
is never the only cue. The geometry charts write their colours as presentation attributes;
pygal's inline tooltip script is removed and its stylesheet becomes presentation attributes
(``chs_site.svg_styles``). So every chart is a static picture that needs no JavaScript,
fetches nothing from the internet, and fits a Content-Security-Policy without inline
scripts or styles.

The functions take plain data (numbers, labels, lists of ``(datetime, value)``) and return
SVG markup safe to put in a page; the selectors fetch, the views decide where it goes."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

import pygal
from django.utils.safestring import SafeString, mark_safe
from pygal.style import Style

from chs_site.formatting import money
from chs_site.svg_styles import inline_stylesheet


def short_money(value: float | None) -> str:
    """A chart's axis and tooltip amount: "$12K"."""
    return money(value, short=True)


OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}
NO_DATA_GREY = "#999999"
BAND_COLOUR = {
    "red": OKABE_ITO["vermillion"],
    "yellow": OKABE_ITO["orange"],
    "green": OKABE_ITO["bluish_green"],
    "": NO_DATA_GREY,
}
BANDS = (("red", "Red"), ("yellow", "Yellow"), ("green", "Green"), ("", "No data"))
# Band zones are pale tints of the band colours used by the chips in chs.css.
ZONE_FILL = {"green": "#d8f1e8", "yellow": "#fdf1d3", "red": "#fbe7da"}
MARKER_COLOUR = {
    "feedback": OKABE_ITO["orange"],
    "task": OKABE_ITO["sky_blue"],
    "outcome": OKABE_ITO["reddish_purple"],
}
MARKER_LABEL = {"feedback": "Feedback", "task": "Tasks", "outcome": "Outcomes"}

FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif'

Point = tuple[dt.datetime, float]


@dataclass(frozen=True)
class Marker:
    at: dt.datetime
    kind: str  # feedback | task | outcome
    label: str


# pygal's own ".reactive{stroke-width:1}" rule (scoped by the chart's id) beats per-series
# stroke widths; the data lines must read at a glance, so widen them here.
CSS = [
    "file://style.css",
    "file://graph.css",
    "inline:.plot .series path.line{stroke-width:2.2px !important}",
]


def _style(colours: Sequence[str]) -> Style:
    return Style(
        background="transparent",
        plot_background="#ffffff",
        foreground="#1f2933",
        foreground_strong="#1f2933",
        foreground_subtle="#8a94a3",
        font_family=FONT,
        label_font_size=11,
        major_label_font_size=11,
        legend_font_size=12,
        title_font_size=13,
        value_font_size=11,
        opacity="1",
        opacity_hover="1",
        guide_stroke_color="#e5e8ec",
        major_guide_stroke_color="#d5dae0",
        colors=tuple(colours),
    )


def _render(chart: pygal.graph.graph.Graph) -> SafeString:
    """SVG markup without ``<script>``, ``<style>`` or ``style`` attributes (see the module
    docstring). Safe to put in a page as it is: pygal escapes every label and value it
    writes."""
    chart.add_xml_filter(inline_stylesheet)
    svg = chart.render(is_unicode=True, disable_xml_declaration=True)
    return mark_safe(str(svg))  # noqa: S308 - pygal escapes its text


def _date_label(value: dt.datetime) -> str:
    return value.strftime("%b %-d")


def step_value_at(points: Sequence[Point], at: dt.datetime) -> float | None:
    """The score in force at ``at`` (the newest point not after it): scores are step
    functions, a row is written when the score changes."""
    current: float | None = None
    for when, value in points:
        if when > at:
            break
        current = value
    return current


# --- date-axis charts, drawn as plain SVG geometry -----------------------------------------
# The account page draws its score trend and one chart per measure on every view (and the
# health region again while a recompute is pending). pygal took 5-10 ms a chart there,
# most of the page's CPU; these take a fraction of a millisecond. Colours are SVG
# presentation attributes (no style element or attribute), so a strict CSP allows them.

AXIS_GREY = "#6b7280"
GRID_GREY = "#e5e8ec"
TEXT_GREY = "#374151"


@dataclass(frozen=True)
class _Frame:
    """Where a date × value plot sits in its SVG, and how to map data onto it."""

    left: float
    right: float
    top: float
    bottom: float
    start: dt.datetime
    end: dt.datetime
    low: float
    high: float

    def x(self, at: dt.datetime) -> float:
        span = (self.end - self.start).total_seconds() or 1.0
        frac = min(max((at - self.start).total_seconds() / span, 0.0), 1.0)
        return round(self.left + frac * (self.right - self.left), 1)

    def y(self, value: float) -> float:
        frac = (value - self.low) / ((self.high - self.low) or 1.0)
        frac = min(max(frac, 0.0), 1.0)
        return round(self.bottom - frac * (self.bottom - self.top), 1)


def _nice_ticks(low: float, high: float, count: int = 4) -> list[float]:
    """Round tick values (1, 2, 2.5 or 5 × a power of ten apart) covering low..high."""
    if high <= low:
        low, high = low - 1, high + 1
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    n = max(1, math.ceil(round((high - first) / step, 9)))
    return [round(first + i * step, 10) for i in range(n + 1)]


def _tick_label(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 10_000 else f"{value:g}"


def _month_ticks(start: dt.datetime, end: dt.datetime, most: int) -> list[dt.datetime]:
    """First days of the months inside the range, thinned to at most ``most``."""
    month = dt.datetime(start.year, start.month, 1, tzinfo=start.tzinfo)
    ticks = []
    while month <= end:
        if month > start:
            ticks.append(month)
        month = dt.datetime(
            month.year + month.month // 12, month.month % 12 + 1, 1, tzinfo=start.tzinfo
        )
    every = max(1, math.ceil(len(ticks) / most))
    return ticks[::every]


def _axes(frame: _Frame, y_ticks: Sequence[float], x_ticks: Sequence[dt.datetime]) -> list[str]:
    parts = []
    for value in y_ticks:
        y = frame.y(value)
        parts.append(
            f'<line x1="{frame.left}" x2="{frame.right}" y1="{y}" y2="{y}" stroke="{GRID_GREY}"/>'
            f'<text x="{frame.left - 6}" y="{y + 4}" text-anchor="end">'
            f"{escape(_tick_label(value))}</text>"
        )
    parts.append(
        f'<line x1="{frame.left}" x2="{frame.right}" y1="{frame.bottom}" y2="{frame.bottom}" '
        f'stroke="{AXIS_GREY}"/>'
    )
    for at in x_ticks:
        x = frame.x(at)
        anchor = "end" if x > frame.right - 20 else "middle"  # the last label stays inside
        parts.append(
            f'<line x1="{x}" x2="{x}" y1="{frame.bottom}" y2="{frame.bottom + 4}" '
            f'stroke="{AXIS_GREY}"/><text x="{x}" y="{frame.bottom + 17}" '
            f'text-anchor="{anchor}">{escape(_date_label(at))}</text>'
        )
    return parts


def _legend(items: Sequence[tuple[str, str, str]], *, y: float) -> list[str]:
    """(label, colour, kind) in one row, each after the one before (at about 6.6 px a
    character of 12 px text); kind: box, dot, line, dash, dotted."""
    parts = []
    x = 8.0
    for label, colour, kind in items:
        if kind == "box":
            mark = f'<rect x="{x}" y="{y - 10}" width="12" height="12" fill="{colour}"/>'
        elif kind == "dot":
            mark = f'<circle cx="{x + 6}" cy="{y - 4}" r="5" fill="{colour}"/>'
        else:
            dash = {"dash": ' stroke-dasharray="6,4"', "dotted": ' stroke-dasharray="2,3"'}
            mark = (
                f'<line x1="{x}" x2="{x + 14}" y1="{y - 4}" y2="{y - 4}" stroke="{colour}" '
                f'stroke-width="2.5"{dash.get(kind, "")}/>'
            )
        parts.append(f'{mark}<text x="{x + 18}" y="{y}">{escape(label)}</text>')
        x = round(x + 18 + 6.6 * len(label) + 22, 1)
    return parts


def _svg(width: int, height: int, label: str, parts: Sequence[str]) -> SafeString:
    return mark_safe(  # noqa: S308 - every text above went through escape()
        f'<svg class="chart-svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="{escape(label)}" '
        f'font-family="{escape(FONT)}" font-size="12" fill="{TEXT_GREY}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(label)}</title>'
        + "".join(parts)
        + "</svg>"
    )


def _no_data(frame: _Frame, text: str) -> str:
    return (
        f'<text x="{(frame.left + frame.right) / 2}" y="{(frame.top + frame.bottom) / 2}" '
        f'text-anchor="middle" font-size="15">{escape(text)}</text>'
    )


def _score_steps(points: Sequence[Point], start: dt.datetime, end: dt.datetime) -> list[Point]:
    """The score as steps from ``start`` (the value in force then) to ``end`` (the last
    value is still in force), so a flat week reads as flat; ``points`` are sorted. Empty
    when no score is in force by the end."""
    line: list[Point] = []
    current = step_value_at(points, start)
    if current is not None:
        line.append((start, current))
    for when, value in points:
        if when <= start:
            continue
        if current is not None:
            line.append((when, current))
        line.append((when, value))
        current = value
    if current is not None:
        line.append((end, current))
    return line


def trend_chart_svg(
    *,
    points: Sequence[Point],
    start: dt.datetime,
    end: dt.datetime,
    red_below: float,
    green_at: float,
    markers: Sequence[Marker] | None = (),
    width: int = 860,
    height: int = 320,
    label: str = "Score",
    description: str = "",
) -> SafeString:
    """Score over time on band zones, with feedback, task and outcome markers placed on
    the score line at the moment they happened (each says what happened on hover).
    ``markers=None``: a chart without events (the team's average) has no marker legend."""
    points = sorted(points)
    frame = _Frame(
        left=40, right=width - 14, top=10, bottom=height - 52, start=start, end=end, low=0, high=100
    )
    parts = []
    for top, bottom, band in (
        (100, green_at, "green"),
        (green_at, red_below, "yellow"),
        (red_below, 0, "red"),
    ):
        y_top, y_bottom = frame.y(top), frame.y(bottom)
        parts.append(
            f'<rect x="{frame.left}" y="{y_top}" width="{frame.right - frame.left}" '
            f'height="{round(y_bottom - y_top, 1)}" fill="{ZONE_FILL[band]}"/>'
        )
    parts += _axes(frame, [0, 20, 40, 60, 80, 100], _month_ticks(start, end, most=7))
    line = _score_steps(points, start, end)
    if line:
        coords = " ".join(f"{frame.x(at)},{frame.y(value)}" for at, value in line)
        parts.append(
            f'<polyline points="{coords}" fill="none" stroke="{OKABE_ITO["blue"]}" '
            f'stroke-width="2.2" stroke-linejoin="round"/>'
        )
    else:
        parts.append(_no_data(frame, "No score history yet"))
    for m in markers or ():
        if not (start <= m.at <= end):
            continue
        value = step_value_at(points, m.at)
        tip = f"{MARKER_LABEL[m.kind]}, {_date_label(m.at)}: {m.label}"
        parts.append(
            f'<circle cx="{frame.x(m.at)}" cy="{frame.y(value if value is not None else 2)}" '
            f'r="5" fill="{MARKER_COLOUR[m.kind]}" stroke="#ffffff" stroke-width="1.5">'
            f"<title>{escape(tip)}</title></circle>"
        )
    legend = [
        (f"Green ≥ {green_at:g}", ZONE_FILL["green"], "box"),
        (f"Yellow {red_below:g}–{green_at:g}", ZONE_FILL["yellow"], "box"),
        (f"Red < {red_below:g}", ZONE_FILL["red"], "box"),
        (label, OKABE_ITO["blue"], "line"),
    ]
    if markers is not None:
        legend += [
            (MARKER_LABEL[k], MARKER_COLOUR[k], "dot") for k in ("feedback", "task", "outcome")
        ]
    parts += _legend(legend, y=height - 14)
    return _svg(width, height, description or f"{label} over time on band zones", parts)


def metric_chart_svg(
    *,
    name: str,
    unit: str,
    points: Sequence[Point],
    start: dt.datetime,
    end: dt.datetime,
    bad: float | None = None,
    good: float | None = None,
    width: int = 420,
    height: int = 200,
    description: str = "",
) -> SafeString:
    """One metric's raw values, with the measure's bad and good thresholds as lines."""
    points = sorted(p for p in points if start <= p[0] <= end)
    shown = [v for _, v in points] + [t for t in (bad, good) if t is not None]
    ticks = _nice_ticks(min(shown), max(shown)) if shown else [0.0, 1.0]
    frame = _Frame(
        left=48,
        right=width - 12,
        top=28,
        bottom=height - 44,
        start=start,
        end=end,
        low=ticks[0],
        high=ticks[-1],
    )
    title = f"{name} ({unit})" if unit else name
    parts = [
        f'<text x="{width / 2}" y="16" text-anchor="middle" font-size="13">{escape(title)}</text>'
    ]
    parts += _axes(frame, ticks, _month_ticks(start, end, most=4))
    for threshold, colour, dash in (
        (bad, OKABE_ITO["vermillion"], "6,4"),
        (good, OKABE_ITO["bluish_green"], "2,3"),
    ):
        if threshold is not None:
            y = frame.y(threshold)
            parts.append(
                f'<line x1="{frame.left}" x2="{frame.right}" y1="{y}" y2="{y}" '
                f'stroke="{colour}" stroke-width="2" stroke-dasharray="{dash}"/>'
            )
    if points:
        coords = " ".join(f"{frame.x(at)},{frame.y(value)}" for at, value in points)
        parts.append(
            f'<polyline points="{coords}" fill="none" stroke="{OKABE_ITO["blue"]}" '
            f'stroke-width="2" stroke-linejoin="round"/>'
        )
        if len(points) <= 40:
            parts += [
                f'<circle cx="{frame.x(at)}" cy="{frame.y(value)}" r="2.5" '
                f'fill="{OKABE_ITO["blue"]}"><title>{escape(_date_label(at))}: '
                f"{escape(_tick_label(value))}</title></circle>"
                for at, value in points
            ]
    else:
        parts.append(_no_data(frame, "No values in 180 days"))
    # The title names the metric in full; its legend entry is cut to leave room for both
    # thresholds.
    legend = [(name if len(name) <= 26 else f"{name[:25]}…", OKABE_ITO["blue"], "line")]
    if bad is not None:
        legend.append((f"Bad: {bad:g}", OKABE_ITO["vermillion"], "dash"))
    if good is not None:
        legend.append((f"Good: {good:g}", OKABE_ITO["bluish_green"], "dotted"))
    parts += _legend(legend, y=height - 14)
    return _svg(width, height, description or f"{title} over time", parts)


def band_distribution_svg(*, now: Mapping[str, int], before: Mapping[str, int]) -> SafeString:
    """Accounts per band now and 30 days ago, side by side."""
    bands = [b for b, _ in BANDS]
    labels = [label for _, label in BANDS]
    chart = pygal.Bar(
        js=[],
        css=CSS,
        truncate_label=-1,
        width=520,
        height=260,
        style=_style([OKABE_ITO["sky_blue"], OKABE_ITO["blue"]]),
        x_labels=labels,
        legend_at_bottom=True,
        print_values=True,
        print_zeroes=False,
        margin=8,
        explicit_size=False,
    )
    chart.add("30 days ago", [before.get(b, 0) for b in bands])
    chart.add("Now", [now.get(b, 0) for b in bands])
    return _render(chart)


def at_risk_arr_svg(
    *, quarters: Sequence[str], red: Sequence[float], yellow: Sequence[float]
) -> SafeString:
    """Red and yellow ARR by renewal quarter, stacked."""
    chart = pygal.StackedBar(
        js=[],
        css=CSS,
        truncate_label=-1,
        width=520,
        height=260,
        style=_style([OKABE_ITO["vermillion"], OKABE_ITO["orange"]]),
        x_labels=list(quarters),
        legend_at_bottom=True,
        value_formatter=short_money,
        margin=8,
        no_data_text="No red or yellow account renews soon",
        explicit_size=False,
    )
    chart.add("Red ARR", list(red))
    chart.add("Yellow ARR", list(yellow))
    return _render(chart)


def average_score_svg(
    *,
    points: Sequence[Point],
    start: dt.datetime,
    end: dt.datetime,
    red_below: float,
    green_at: float,
) -> SafeString:
    """The portfolio's average score per day."""
    return trend_chart_svg(
        points=points,
        start=start,
        end=end,
        red_below=red_below,
        green_at=green_at,
        width=1060,
        height=280,
        markers=None,
        label="Average score",
    )


# --- sparklines (a small template, no library) --------------------------------------------


MIN_SPAN = 20.0


@dataclass(frozen=True)
class Sparkline:
    """Geometry for a sparkline (``accounts.templatetags.workspace`` draws it); the end dot carries the band
    colour, the title says the numbers."""

    points: str  # SVG polyline points
    end_x: float
    end_y: float
    first: float
    last: float
    width: int
    height: int

    @property
    def change(self) -> float:
        return round(self.last - self.first, 1)

    @property
    def summary(self) -> str:
        return f"Score {self.first:g} 30 days ago, {self.last:g} now"


def sparkline(
    points: Sequence[Point],
    *,
    start: dt.datetime,
    end: dt.datetime,
    width: int = 96,
    height: int = 24,
) -> Sparkline | None:
    """Steps of the score from ``start`` to ``end``; ``points`` may begin before ``start``
    (the score in force when the window opened). The y axis spans the row's own values but
    at least ``MIN_SPAN`` points, so a 2-point wobble stays flat and a 20-point fall shows."""
    points = sorted(points)
    if not points:
        return None
    pad = 2.0
    first = step_value_at(points, start)
    shown = [v for t, v in points if t >= start] + ([first] if first is not None else [])
    low, high = min(shown), max(shown)
    if high - low < MIN_SPAN:
        middle = (high + low) / 2
        low, high = middle - MIN_SPAN / 2, middle + MIN_SPAN / 2

    frame = _Frame(
        left=pad,
        right=width - pad,
        top=pad,
        bottom=height - pad,
        start=start,
        end=end,
        low=low,
        high=high,
    )
    line = _score_steps(points, start, end)
    if not line:
        return None
    coords = [(frame.x(at), frame.y(value)) for at, value in line]
    return Sparkline(
        points=" ".join(f"{a:g},{b:g}" for a, b in coords),
        end_x=coords[-1][0],
        end_y=coords[-1][1],
        first=first if first is not None else points[0][1],
        last=line[-1][1],
        width=width,
        height=height,
    )


# --- scorecard editor and validation -------------------------------------------------------


def _bars(**extra: object) -> dict[str, object]:
    return {
        "js": [],
        "css": CSS,
        "style": _style(
            [
                OKABE_ITO["blue"],
                OKABE_ITO["sky_blue"],
                OKABE_ITO["orange"],
                OKABE_ITO["bluish_green"],
            ]
        ),
        "print_values": True,
        "show_legend": True,
        "legend_at_bottom": True,
        "width": 640,
        "height": 320,
        "explicit_size": False,
        **extra,
    }


def band_comparison_svg(
    *, before: Mapping[str, int], after: Mapping[str, int], before_label: str, after_label: str
) -> SafeString:
    """Accounts per band under two versions side by side (each bar in its band's colour)."""
    chart = pygal.Bar(**_bars(title="Accounts per band", y_title="accounts"))
    chart.x_labels = [label for _, label in BANDS]
    for label, counts in ((before_label, before), (after_label, after)):
        chart.add(label, [{"value": counts.get(b, 0), "color": BAND_COLOUR[b]} for b, _ in BANDS])
    return _render(chart)


def score_histogram_svg(
    *, before: Sequence[int], after: Sequence[int], before_label: str, after_label: str
) -> SafeString:
    """Accounts per 10-point score bucket (0–9 … 90–100) under two versions."""
    chart = pygal.Bar(**_bars(title="Score distribution", y_title="accounts", x_title="score"))
    chart.x_labels = [f"{i * 10}–{i * 10 + 9}" for i in range(10)]
    chart.add(before_label, list(before))
    chart.add(after_label, list(after))
    return _render(chart)


def churn_by_band_svg(rates: Sequence[tuple[str, str, float | None]]) -> SafeString:
    """Churn rate per band at lead time: (band, label, rate 0–1) per bar."""
    chart = pygal.Bar(
        **_bars(
            title="Churn rate by band at lead time",
            y_title="% churned",
            show_legend=False,
            formatter=lambda v: f"{v:.0f}%",
        )
    )
    chart.x_labels = [label for _, label, _ in rates]
    chart.add(
        "Churn rate",
        [
            {"value": round(100 * (rate or 0), 1), "color": BAND_COLOUR[band]}
            for band, _, rate in rates
        ],
    )
    return _render(chart)


def calibration_svg(bins: Sequence[tuple[float, float, float | None]]) -> SafeString:
    """Observed churn rate per score range: (low, high, rate 0–1 or None) per bin (a
    trustworthy score falls from left to right)."""
    chart = pygal.Bar(
        **_bars(
            title="Calibration: churn rate per score range",
            y_title="% churned",
            x_title="score at lead time",
            show_legend=False,
            formatter=lambda v: f"{v:.0f}%",
        )
    )
    chart.x_labels = [f"{low:.0f}–{high - 1:.0f}" for low, high, _ in bins]
    chart.add("Churn rate", [None if rate is None else round(100 * rate, 1) for _, _, rate in bins])
    return _render(chart)


def weights_svg(
    names: Sequence[str], current: Sequence[float], suggested: Sequence[float]
) -> SafeString:
    chart = pygal.HorizontalBar(
        **_bars(title="Current and suggested weights", height=max(220, 60 + 42 * len(names)))
    )
    chart.x_labels = list(names)
    chart.add("Current", list(current))
    chart.add("Suggested", list(suggested))
    return _render(chart)


# --- surveys ---------------------------------------------------------------------------------

# A survey answer's group: NPS detractor/passive/promoter, CSAT dissatisfied/neutral/satisfied.
ANSWER_GROUP_COLOUR = {
    "low": OKABE_ITO["vermillion"],
    "middle": OKABE_ITO["orange"],
    "high": OKABE_ITO["bluish_green"],
}


def answer_distribution_svg(bars: Sequence[tuple[int, int, str]], *, title: str) -> SafeString:
    """Answers per score: (score, answers, group) per bar, coloured by its group."""
    chart = pygal.Bar(
        **_bars(title=title, y_title="answers", x_title="score", show_legend=False, height=260)
    )
    chart.x_labels = [str(score) for score, _, _ in bars]
    chart.add(
        "Answers",
        [{"value": n, "color": ANSWER_GROUP_COLOUR[group]} for _, n, group in bars],
    )
    return _render(chart)
