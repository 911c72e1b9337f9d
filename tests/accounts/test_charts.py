"""Chart rendering: pure functions over plain data, no database."""

from __future__ import annotations

import datetime as dt
import re

from chs_site import charts
from chs_site.charts import short_money

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
END = START + dt.timedelta(days=30)


def test_sparkline_starts_with_the_score_in_force_and_ends_at_the_right_edge() -> None:
    points = [(START - dt.timedelta(days=3), 80.0), (START + dt.timedelta(days=15), 40.0)]
    spark = charts.sparkline(points, start=START, end=END, width=100, height=20)
    assert spark is not None
    assert (spark.first, spark.last, spark.change) == (80.0, 40.0, -40.0)
    coords = [tuple(map(float, p.split(","))) for p in spark.points.split()]
    assert coords[0] == (2.0, 2.0)  # top-left: 80 is the highest value shown
    assert coords[-1] == (98.0, 18.0)  # bottom-right: 40 is the lowest
    assert coords[1][0] == coords[2][0] == 50.0  # a vertical step in the middle
    assert spark.summary == "Score 80 30 days ago, 40 now"


def test_sparkline_keeps_small_wobbles_flat() -> None:
    points = [(START, 50.0), (START + dt.timedelta(days=10), 51.0)]
    spark = charts.sparkline(points, start=START, end=END, width=100, height=20)
    assert spark is not None
    ys = [float(p.split(",")[1]) for p in spark.points.split()]
    assert max(ys) - min(ys) < 2  # one point of change over a 20-point minimum span


def test_sparkline_without_points_is_none() -> None:
    assert charts.sparkline([], start=START, end=END) is None


def test_step_value_at_takes_the_newest_point_not_after() -> None:
    points = [(START, 10.0), (START + dt.timedelta(days=2), 20.0)]
    assert charts.step_value_at(points, START - dt.timedelta(days=1)) is None
    assert charts.step_value_at(points, START + dt.timedelta(days=1)) == 10.0
    assert charts.step_value_at(points, END) == 20.0


def test_trend_chart_has_labelled_zones_and_okabe_ito_colours_without_script() -> None:
    svg = charts.trend_chart_svg(
        points=[(START, 30.0), (START + dt.timedelta(days=10), 75.0)],
        start=START,
        end=END,
        red_below=35,
        green_at=75,
        markers=[charts.Marker(at=START + dt.timedelta(days=5), kind="feedback", label="NPS 3")],
    )
    assert "Green ≥ 75" in svg and "Yellow 35–75" in svg and "Red &lt; 35" in svg
    assert "NPS 3" in svg
    for colour in ("#0072B2", "#E69F00", "#56B4E9", "#CC79A7"):
        assert colour.lower() in svg.lower()
    assert "<script" not in svg
    assert not re.search(r"""(href|src)=["']https?:|url\(https?:|@import""", svg)


def test_empty_trend_chart_says_so() -> None:
    svg = charts.trend_chart_svg(points=[], start=START, end=END, red_below=40, green_at=70)
    assert "<svg" in svg and "<script" not in svg


def test_money_labels() -> None:
    assert short_money(1_500_000) == "$1.5M"
    assert short_money(45_000) == "$45K"
    assert short_money(None) == ""
