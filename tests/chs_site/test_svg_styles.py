"""An SVG's stylesheet becomes presentation attributes with the cascade's result, so charts
need neither a <style> element nor style attributes under the Content-Security-Policy."""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET

import pytest
from django.utils.safestring import SafeString

from chs_site import charts
from chs_site.svg_styles import inline_stylesheet

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
END = START + dt.timedelta(days=30)


def inline(svg: str) -> ET.Element:
    return inline_stylesheet(ET.fromstring(svg))


def by_id(root: ET.Element, element_id: str) -> ET.Element:
    found = root.find(f".//*[@id='{element_id}']")
    assert found is not None
    return found


def test_the_cascade_decides_which_declaration_becomes_the_attribute() -> None:
    root = inline(
        """<svg id="chart-1"><defs><style>
          #chart-1 .bar { fill: red; stroke: blue; stroke-width: 1 }
          #chart-1 rect.bar { fill: green }
          #chart-1 .bar { fill: orange }
          #chart-1 .thin { stroke-width: 3 !important }
          #chart-1 .graph { font-family: serif; font-size: 11px }
          #chart-1 .bar:hover { fill: black }
          #chart-1 .bar { transition: 150ms; cursor: pointer }
        </style><script>window.x = 1</script></defs>
        <g class="graph">
          <rect id="a" class="bar" fill="pink"/>
          <rect id="b" class="bar thin" style="fill: purple; stroke-width: 9"/>
          <circle id="c" class="bar"/>
        </g></svg>"""
    )
    a, b, c = by_id(root, "a"), by_id(root, "b"), by_id(root, "c")
    # rect.bar is more specific than a later .bar rule; a rule beats the attribute it finds.
    assert (a.get("fill"), a.get("stroke"), a.get("stroke-width")) == ("green", "blue", "1")
    # The style attribute beats every normal rule, !important beats the style attribute.
    assert (b.get("fill"), b.get("stroke-width"), b.get("style")) == ("purple", "3", None)
    # Among equal specificity the later rule wins; :hover never applies on the server.
    assert c.get("fill") == "orange"
    # Inherited properties stay on the element the rule named; what is no attribute is dropped.
    graph = root.find("g")
    assert graph is not None
    assert (graph.get("font-family"), graph.get("font-size")) == ("serif", "11px")
    assert a.get("transition") is None and a.get("cursor") == "pointer"
    assert root.get("id") == "chart-1"
    assert [e.tag for e in root.iter() if e.tag in ("style", "script")] == []


def test_two_charts_with_different_ids_share_a_stylesheet_but_keep_their_own_colours() -> None:
    def chart(element_id: str, colour: str) -> str:
        return (
            f'<svg id="{element_id}"><style>#{element_id} .color-0 {{ fill: {colour} }}</style>'
            '<rect id="r" class="color-0"/></svg>'
        )

    assert by_id(inline(chart("chart-a", "#D55E00")), "r").get("fill") == "#D55E00"
    assert by_id(inline(chart("chart-b", "#0072B2")), "r").get("fill") == "#0072B2"


def all_charts() -> dict[str, SafeString]:
    points = [(START, 30.0), (START + dt.timedelta(days=10), 75.0)]
    return {
        "trend": charts.trend_chart_svg(
            points=points,
            start=START,
            end=END,
            red_below=40,
            green_at=70,
            markers=[charts.Marker(at=START + dt.timedelta(days=5), kind="task", label="Call")],
        ),
        "metric": charts.metric_chart_svg(
            name="NPS", unit="0–10", points=points, start=START, end=END, bad=2, good=9
        ),
        "bands": charts.band_distribution_svg(now={"red": 2, "green": 5}, before={"red": 4}),
        "arr": charts.at_risk_arr_svg(quarters=["Q1", "Q2"], red=[1000, 0], yellow=[500, 200]),
        "comparison": charts.band_comparison_svg(
            before={"red": 3}, after={"red": 1, "green": 2}, before_label="v1", after_label="v2"
        ),
        "histogram": charts.score_histogram_svg(
            before=[1] * 10, after=[2] * 10, before_label="v1", after_label="v2"
        ),
        "churn": charts.churn_by_band_svg([("red", "Red", 0.5), ("green", "Green", 0.1)]),
        "calibration": charts.calibration_svg([(0, 50, 0.4), (50, 100, None)]),
        "weights": charts.weights_svg(["NPS", "CSAT"], [1, 2], [2, 1]),
    }


@pytest.mark.parametrize(("name", "svg"), list(all_charts().items()))
def test_every_chart_renders_without_style_or_script(name: str, svg: SafeString) -> None:
    assert not re.search(r"<style|\sstyle=|<script", svg), name
    assert "font-size=" in svg and "fill=" in svg


def test_chart_colours_and_line_widths_survive_as_attributes() -> None:
    comparison = ET.fromstring(all_charts()["comparison"])
    # Each bar in its band's colour (pygal writes these as style attributes on the bar).
    fills = {
        g.get("fill")
        for g in comparison.iter("{http://www.w3.org/2000/svg}g")
        if g.get("class") == "bar"
    }
    assert fills == {charts.BAND_COLOUR[band] for band, _ in charts.BANDS}
    trend = ET.fromstring(all_charts()["trend"])  # geometry: its attributes are its own
    lines = list(trend.iter("{http://www.w3.org/2000/svg}polyline"))
    assert lines and {p.get("stroke-width") for p in lines} == {"2.2"}
