"""Server-rendered SVG charts (pygal) for the scorecard editor and the validation page.

Colour-blind-safe (Okabe–Ito palette: vermillion, orange, bluish green, grey, blue), every
value printed as a text label, no script or asset from the internet (``js=[]``)."""

from __future__ import annotations

from collections.abc import Sequence

import pygal
from django.utils.safestring import SafeString, mark_safe
from pygal.style import Style

from scoring.preview import Distribution
from scoring.validation import BacktestMetrics

OKABE_ITO = {
    "red": "#D55E00",
    "yellow": "#E69F00",
    "green": "#009E73",
    "none": "#999999",
    "blue": "#0072B2",
    "sky": "#56B4E9",
}

STYLE = Style(
    background="transparent",
    plot_background="transparent",
    foreground="#222222",
    foreground_strong="#111111",
    foreground_subtle="#666666",
    font_family="system-ui, sans-serif",
    label_font_size=12,
    major_label_font_size=12,
    value_font_size=11,
    value_label_font_size=11,
    legend_font_size=12,
    title_font_size=14,
    colors=(OKABE_ITO["blue"], OKABE_ITO["sky"], OKABE_ITO["yellow"], OKABE_ITO["green"]),
)


def _config(**extra: object) -> dict[str, object]:
    return {
        "style": STYLE,
        "js": [],
        "disable_xml_declaration": True,
        "print_values": True,
        "show_legend": True,
        "legend_at_bottom": True,
        "width": 640,
        "height": 320,
        "explicit_size": False,
        **extra,
    }


def _render(chart: pygal.graph.graph.Graph) -> SafeString:
    return mark_safe(chart.render(is_unicode=True))  # noqa: S308 - pygal escapes its labels


def band_distribution(
    before: Distribution, after: Distribution, *, before_label: str
) -> SafeString:
    """Accounts per band, the version active today beside the draft."""
    chart = pygal.Bar(**_config(title="Accounts per band", y_title="accounts"))
    chart.x_labels = ["Red", "Yellow", "Green", "No data"]
    for label, dist in ((before_label, before), ("Draft", after)):
        chart.add(
            label,
            [
                {"value": dist.red, "color": OKABE_ITO["red"]},
                {"value": dist.yellow, "color": OKABE_ITO["yellow"]},
                {"value": dist.green, "color": OKABE_ITO["green"]},
                {"value": dist.no_data, "color": OKABE_ITO["none"]},
            ],
        )
    return _render(chart)


def score_histogram(before: Distribution, after: Distribution, *, before_label: str) -> SafeString:
    chart = pygal.Bar(**_config(title="Score distribution", y_title="accounts", x_title="score"))
    chart.x_labels = [f"{i * 10}–{i * 10 + 9}" for i in range(10)]
    chart.add(before_label, list(before.histogram))
    chart.add("Draft", list(after.histogram))
    return _render(chart)


def band_churn(metrics: BacktestMetrics) -> SafeString:
    """Churn rate per band at lead time, against the base rate."""
    colours = {"red": "red", "yellow": "yellow", "green": "green", "": "none"}
    chart = pygal.Bar(
        **_config(
            title="Churn rate by band at lead time",
            y_title="% churned",
            show_legend=False,
            formatter=lambda v: f"{v:.0f}%",
        )
    )
    chart.x_labels = [b.label for b in metrics.bands]
    chart.add(
        "Churn rate",
        [
            {"value": round(100 * (b.churn_rate or 0), 1), "color": OKABE_ITO[colours[b.band]]}
            for b in metrics.bands
        ],
    )
    return _render(chart)


def calibration(metrics: BacktestMetrics) -> SafeString:
    """Observed churn rate per score decile (a trustworthy score falls from left to right)."""
    chart = pygal.Bar(
        **_config(
            title="Calibration: churn rate per score range",
            y_title="% churned",
            x_title="score at lead time",
            show_legend=False,
            formatter=lambda v: f"{v:.0f}%",
        )
    )
    chart.x_labels = [f"{c.low:.0f}–{c.high - 1:.0f}" for c in metrics.calibration]
    chart.add(
        "Churn rate",
        [
            None if c.churn_rate is None else round(100 * c.churn_rate, 1)
            for c in metrics.calibration
        ],
    )
    return _render(chart)


def weights(
    names: Sequence[str], current: Sequence[float], suggested: Sequence[float]
) -> SafeString:
    chart = pygal.HorizontalBar(
        **_config(title="Current and suggested weights", height=max(220, 60 + 42 * len(names)))
    )
    chart.x_labels = list(names)
    chart.add("Current", list(current))
    chart.add("Suggested", list(suggested))
    return _render(chart)
