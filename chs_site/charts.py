"""Server-rendered charts, one module for the whole product: pygal for the real charts,
plain geometry for sparklines.

One palette, Okabe & Ito's (2008, "Color Universal Design"): distinguishable with every
common form of colour blindness, with the bands always vermillion, orange and bluish green.
Every series has a text label in the legend (and bar charts print their values), so colour
is never the only cue. One render function: pygal's inline tooltip script is removed and its
stylesheet becomes presentation attributes (``chs_site.svg_styles``), so the charts are
static pictures that need no JavaScript, fetch nothing from the internet, and fit a
Content-Security-Policy without inline scripts or styles.

The functions take plain data (numbers, labels, lists of ``(datetime, value)``) and return
SVG markup safe to put in a page; the selectors fetch, the views decide where it goes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pygal
from django.utils.safestring import SafeString, mark_safe
from pygal.style import Style

from chs_site.formatting import money
from chs_site.svg_styles import inline_stylesheet

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
) -> SafeString:
    """Score over time on band zones, with feedback, task and outcome markers placed on
    the score line at the moment they happened."""
    points = sorted(points)
    colours = [
        ZONE_FILL["green"],
        ZONE_FILL["yellow"],
        ZONE_FILL["red"],
        OKABE_ITO["blue"],
        *[MARKER_COLOUR[k] for k in ("feedback", "task", "outcome")],
    ]
    chart = pygal.DateTimeLine(
        js=[],
        css=CSS,
        truncate_label=-1,
        width=width,
        height=height,
        style=_style(colours),
        range=(0, 100),
        xrange=(start, end),
        y_labels=[0, 20, 40, 60, 80, 100],
        show_dots=False,
        legend_at_bottom=True,
        legend_at_bottom_columns=7,
        x_value_formatter=_date_label,
        show_minor_x_labels=False,
        x_labels_major_count=7,
        truncate_legend=-1,
        margin=8,
        no_data_text="No score history yet",
        explicit_size=False,
    )
    # Zones are filled lines drawn bottom-up over each other (pygal fills to zero, and only
    # fills a series that has a stroke; the stroke has the zone's own colour).
    zone = {"fill": True, "show_dots": False}
    chart.add(f"Green ≥ {green_at:g}", [(start, 100), (end, 100)], **zone)
    chart.add(f"Yellow {red_below:g}–{green_at:g}", [(start, green_at), (end, green_at)], **zone)
    chart.add(f"Red < {red_below:g}", [(start, red_below), (end, red_below)], **zone)
    line: list[Point] = []
    if points:
        # Draw the score as steps so a flat week reads as flat, and carry the last value to
        # the right edge ("the score is still this").
        previous: float | None = None
        for when, value in points:
            if when < start:
                previous = value
                continue
            if previous is not None:
                line.append((when, previous))
            line.append((when, value))
            previous = value
        if previous is not None:
            if not line or line[0][0] > start:
                first = step_value_at(points, start)
                if first is not None:
                    line.insert(0, (start, first))
            line.append((end, previous))
    chart.add(label, line)
    # markers=None: a chart without events (the team's average) has no marker legend.
    for kind in ("feedback", "task", "outcome") if markers is not None else ():
        dots = []
        for m in markers or ():
            if m.kind != kind or not (start <= m.at <= end):
                continue
            y = step_value_at(points, m.at)
            dots.append({"value": (m.at, y if y is not None else 2), "label": m.label})
        chart.add(MARKER_LABEL[kind], dots, stroke=False, show_dots=True, dots_size=5)
    return _render(chart)


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
) -> SafeString:
    """One metric's raw values, with the measure's bad and good thresholds as lines."""
    colours = [OKABE_ITO["blue"], OKABE_ITO["vermillion"], OKABE_ITO["bluish_green"]]
    chart = pygal.DateTimeLine(
        js=[],
        css=CSS,
        truncate_label=-1,
        width=width,
        height=height,
        style=_style(colours),
        xrange=(start, end),
        show_dots=len(points) <= 40,
        dots_size=2.5,
        legend_at_bottom=True,
        legend_at_bottom_columns=3,
        x_value_formatter=_date_label,
        show_minor_x_labels=False,
        x_labels_major_count=4,
        y_labels_major_count=4,
        title=f"{name} ({unit})" if unit else name,
        margin=6,
        no_data_text="No values in 180 days",
        explicit_size=False,
    )
    chart.add(name, sorted(points))
    if bad is not None:
        chart.add(
            f"Bad: {bad:g}",
            [(start, bad), (end, bad)],
            show_dots=False,
            stroke_style={"dasharray": "6,4"},
        )
    if good is not None:
        chart.add(
            f"Good: {good:g}",
            [(start, good), (end, good)],
            show_dots=False,
            stroke_style={"dasharray": "2,3"},
        )
    return _render(chart)


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
        value_formatter=money,
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
    span = (end - start).total_seconds() or 1.0
    pad = 2.0
    shown = [v for t, v in points if t >= start] + [
        v for v in [step_value_at(points, start)] if v is not None
    ]
    low, high = min(shown), max(shown)
    if high - low < MIN_SPAN:
        middle = (high + low) / 2
        low, high = middle - MIN_SPAN / 2, middle + MIN_SPAN / 2

    def x(at: dt.datetime) -> float:
        frac = min(max((at - start).total_seconds() / span, 0.0), 1.0)
        return round(pad + frac * (width - 2 * pad), 1)

    def y(value: float) -> float:
        return round(height - pad - ((value - low) / (high - low)) * (height - 2 * pad), 1)

    first = step_value_at(points, start)
    coords: list[tuple[float, float]] = []
    current = first
    if current is not None:
        coords.append((x(start), y(current)))
    for when, value in points:
        if when <= start:
            continue
        if current is not None:
            coords.append((x(when), y(current)))
        coords.append((x(when), y(value)))
        current = value
    if current is None:
        return None
    coords.append((x(end), y(current)))
    return Sparkline(
        points=" ".join(f"{a:g},{b:g}" for a, b in coords),
        end_x=coords[-1][0],
        end_y=coords[-1][1],
        first=first if first is not None else points[0][1],
        last=current,
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
