"""A published version's change summary reads as sentences, not field names."""

from __future__ import annotations

from scoring.models import Measure, MetricDefinition, Scorecard
from scoring.services.scorecards import _change_summary


def _card(metric: MetricDefinition, version: int, **fields: object) -> Scorecard:
    measure = {k: fields.pop(k) for k in ("weight", "aggregation", "window_days") if k in fields}
    card = Scorecard.objects.create(name="Default", version=version, **fields)
    Measure.objects.create(
        scorecard=card, metric=metric, bad=0, good=10, **{"weight": 1.0, **measure}
    )
    return card


def test_change_summary_names_settings_in_words(logins: MetricDefinition) -> None:
    before = _card(logins, 1, red_below=40.0, missing_data="ignore")
    after = _card(logins, 2, red_below=50.0, missing_data="neutral", weight=2.5, aggregation="avg")
    lines = _change_summary(before, after)
    assert "Red below: 40 → 50." in lines
    assert "Missing data: Ignore the measure (renormalise weights) → Count as 50 points." in lines
    assert "Logins: aggregation Latest value → Average." in lines
    assert "Logins: weight 1 → 2.5." in lines
    assert not any("red_below" in line or "40.0" in line for line in lines)
