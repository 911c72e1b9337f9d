"""Shapes that cross app boundaries, defined once: frozen dataclasses, no ORM.

``ScoreChange`` is what playbooks (and anyone else above scoring) learn about a score that
moved; it is read back from a ``ScoreEvent`` row, or built by the what-if preview from a
draft's scores. ``MetricValueIn`` is one value on its way in (API, CSV, feedback),
already validated; ``MeasureIn`` one measure of a scorecard being written."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

# The largest magnitude a metric value may have (API, CSV, database CHECK). Real metrics
# (seats, logins, ARR in cents, response minutes) stay far below it, and a window of values
# this size still sums, averages and regresses in float64 without overflow: 1.7e308 was
# accepted once and made every recompute of its account fail.
METRIC_VALUE_LIMIT = 1e15


# Weights are relative (each measure's share is its weight over the sum): a ratio of a
# million between two measures is more than any scorecard means, and sums stay finite.
MEASURE_WEIGHT_MAX = 1000.0


def check_metric_value(value: float) -> float:
    """``value`` if it is within ±METRIC_VALUE_LIMIT; else ValueError with the reason."""
    if not -METRIC_VALUE_LIMIT <= value <= METRIC_VALUE_LIMIT:
        raise ValueError(
            f"{value:g} is out of range: metric values must be between"
            f" -{METRIC_VALUE_LIMIT:g} and {METRIC_VALUE_LIMIT:g}"
        )
    return value


@dataclass(frozen=True)
class ScoreChange:
    """An account whose computed score or band changed (previous → new) at ``computed_at``.

    ``score_id`` is the history row of the new score (None when none was written, e.g. the
    account lost its scorecard); ``breakdown`` the measures of the new score that changed
    against the previous one (None for a first score: everything is new); ``event_id`` the
    outbox row it was read from (a stable id for whatever is sent about it)."""

    account_id: int
    previous_score: float | None
    previous_band: str
    score: float | None
    band: str
    computed_at: datetime
    scorecard_id: int | None = None
    score_id: int | None = None
    breakdown: tuple[dict[str, Any], ...] | None = None
    event_id: int | None = None


@dataclass(frozen=True)
class MetricValueIn:
    account_id: int
    metric_id: int
    value: float
    observed_at: datetime  # aware


@dataclass(frozen=True)
class MeasureIn:
    metric_key: str
    weight: float
    aggregation: str = "latest"
    window_days: int = 30
    bad: float = 0.0
    good: float = 100.0


@dataclass(frozen=True)
class FeedbackSignal:
    """A detractor answer or negative feedback was logged on an account."""

    account_id: int
    feedback_id: int
    occurred_at: datetime
