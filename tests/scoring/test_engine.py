"""The pure engine: the scoring contract, pinned with examples and hypothesis properties."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from scoring import engine
from scoring.engine import MeasureSpec, ScorecardSpec

AT = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)


def days_ago(n: float) -> dt.datetime:
    return AT - dt.timedelta(days=n)


def card(*measures: MeasureSpec, missing: str = "ignore") -> ScorecardSpec:
    return ScorecardSpec(measures=measures, missing_data=missing)


WAU = MeasureSpec(metric="wau", name="Weekly active users", weight=3, bad=0, good=100)
TICKETS = MeasureSpec(metric="tickets", name="Open tickets", weight=1, bad=10, good=0)


def test_points_are_linear_between_bad_and_good_and_clamped() -> None:
    result = engine.score_account(card(WAU), {"wau": [(days_ago(1), 42)]}, AT)
    assert result.score == 42.0
    assert result.band == "yellow"
    assert engine.points_for(150, bad=0, good=100) == 100
    assert engine.points_for(-5, bad=0, good=100) == 0


def test_lower_is_better_when_good_is_below_bad() -> None:
    result = engine.score_account(card(TICKETS), {"tickets": [(days_ago(1), 2)]}, AT)
    assert result.score == 80.0


def test_score_is_weighted_mean_and_contributions_add_up() -> None:
    result = engine.score_account(
        card(WAU, TICKETS), {"wau": [(days_ago(1), 40)], "tickets": [(days_ago(2), 5)]}, AT
    )
    assert result.score == pytest.approx((40 * 3 + 50 * 1) / 4, abs=0.05)  # 42.5
    assert sum(m.contribution for m in result.measures) == pytest.approx(42.5)
    assert result.breakdown()[0] == {
        "metric": "wau",
        "name": "Weekly active users",
        "aggregation": "latest",
        "window_days": 30,
        "value": 40.0,
        "points": 40.0,
        "weight": 3.0,
        "contribution": 30.0,
        "stale": False,
    }


def test_no_usable_measure_is_null_not_zero() -> None:
    for policy in ("ignore", "zero", "neutral"):
        result = engine.score_account(card(WAU, TICKETS, missing=policy), {}, AT)
        assert result.score is None
        assert result.band == ""


def test_missing_data_policies() -> None:
    obs = {"wau": [(days_ago(1), 80)]}
    assert engine.score_account(card(WAU, TICKETS), obs, AT).score == 80.0
    assert engine.score_account(card(WAU, TICKETS, missing="zero"), obs, AT).score == 60.0
    assert engine.score_account(card(WAU, TICKETS, missing="neutral"), obs, AT).score == 72.5


def test_value_older_than_the_window_is_stale_and_missing() -> None:
    obs = {"wau": [(days_ago(1), 80)], "tickets": [(days_ago(31), 0)]}
    result = engine.score_account(card(WAU, TICKETS), obs, AT)
    assert result.score == 80.0
    tickets = result.measures[1]
    assert tickets.stale is True and tickets.value is None and tickets.points is None
    assert result.measures[0].stale is False


def test_window_is_open_at_the_start_and_closed_at_the_moment() -> None:
    m = MeasureSpec(metric="x", weight=1, aggregation="count", window_days=7, bad=0, good=10)
    obs = {"x": [(days_ago(7), 1), (days_ago(6.99), 1), (AT, 1), (AT + dt.timedelta(seconds=1), 1)]}
    result = engine.score_account(card(m), obs, AT)
    assert result.measures[0].value == 2.0  # exactly 7 days ago is outside; after AT unseen


def test_aggregations() -> None:
    obs = {"x": [(days_ago(d), v) for d, v in ((1, 10), (2, 20), (3, 30), (8, 5), (9, 15))]}

    def value(agg: str) -> float | None:
        m = MeasureSpec(metric="x", weight=1, aggregation=agg, window_days=7, bad=0, good=1000)
        return engine.score_account(card(m), obs, AT).measures[0].value

    assert value("latest") == 10
    assert value("sum") == 60
    assert value("count") == 3
    assert value("avg") == 20
    assert value("change_pct") == pytest.approx(100.0)  # avg 20 vs previous avg 10


def test_change_pct_is_missing_without_a_previous_window_or_when_it_averages_zero() -> None:
    m = MeasureSpec(metric="x", weight=1, aggregation="change_pct", window_days=7, bad=-50, good=50)
    assert engine.score_account(card(m), {"x": [(days_ago(1), 5)]}, AT).score is None
    zero_prev = {"x": [(days_ago(1), 5), (days_ago(8), 0)]}
    assert engine.score_account(card(m), zero_prev, AT).score is None


def test_band_boundaries_are_exact() -> None:
    assert engine.band_for(39.9, red_below=40, green_at=70) == "red"
    assert engine.band_for(40.0, red_below=40, green_at=70) == "yellow"
    assert engine.band_for(69.9, red_below=40, green_at=70) == "yellow"
    assert engine.band_for(70.0, red_below=40, green_at=70) == "green"


def test_score_rounds_half_away_from_zero() -> None:
    m = MeasureSpec(metric="x", weight=1, bad=0, good=1000)
    assert engine.score_account(card(m), {"x": [(days_ago(1), 402.5)]}, AT).score == 40.3
    assert engine.round1(0.25) == 0.3


def test_movers_explain_in_plain_words() -> None:
    before = engine.score_account(
        card(WAU, TICKETS), {"wau": [(days_ago(1), 42)], "tickets": [(days_ago(1), 2)]}, AT
    )
    after = engine.score_account(
        card(WAU, TICKETS), {"wau": [(days_ago(1), 18)], "tickets": [(days_ago(1), 2)]}, AT
    )
    movers = engine.movers(before.breakdown(), after.breakdown())
    assert [m.sentence for m in movers] == ["Weekly active users fell from 42 to 18: −18.0 points"]
    assert movers[0].contribution_change == -18.0


def test_a_measure_that_did_not_change_is_not_a_mover() -> None:
    # Weekly active users stops reporting: the weights are renormalised, so open tickets'
    # contribution jumps although it stayed at 2; the mover is the silent measure.
    before = engine.score_account(
        card(WAU, TICKETS), {"wau": [(days_ago(1), 42)], "tickets": [(days_ago(1), 2)]}, AT
    )
    after = engine.score_account(card(WAU, TICKETS), {"tickets": [(days_ago(1), 2)]}, AT)
    movers = engine.movers(before.breakdown(), after.breakdown())
    assert [m.sentence for m in movers] == [
        "Weekly active users stopped reporting (was 42): −31.5 points"
    ]


def test_a_measure_rated_differently_at_the_same_value_says_so() -> None:
    before = engine.score_account(card(TICKETS), {"tickets": [(days_ago(1), 2)]}, AT)
    stricter = MeasureSpec(metric="tickets", name="Open tickets", weight=1, bad=4, good=0)
    after = engine.score_account(card(stricter), {"tickets": [(days_ago(1), 2)]}, AT)
    (mover,) = engine.movers(before.breakdown(), after.breakdown())
    assert mover.sentence == (
        "Open tickets stayed at 2 but the scorecard now rates it differently: −30.0 points"
    )


DEEP_RED = card(
    MeasureSpec(metric="logins", name="Logins/week", weight=1, bad=0, good=40),
    MeasureSpec(metric="tickets", name="Open tickets", weight=1, bad=10, good=2),
    MeasureSpec(metric="nps", name="NPS", weight=1, bad=0, good=10),
    MeasureSpec(metric="csat", name="CSAT", weight=1, bad=1, good=5),
)


def test_path_to_green_for_a_deep_red_account_names_the_best_two_and_how_far_they_go() -> None:
    observed = {"logins": 4, "tickets": 9, "nps": 2, "csat": 2.6}
    result = engine.score_account(
        DEEP_RED, {k: [(days_ago(1), v)] for k, v in observed.items()}, AT
    )
    assert result.score == 20.6  # (10 + 12.5 + 20 + 40) / 4
    path = engine.path_to_green(DEEP_RED, result)
    assert path is not None and not path.reaches_green
    assert [(s.metric, s.current_value, s.target_value) for s in path.steps] == [
        ("logins", 4, 40),
        ("tickets", 9, 2),
    ]
    assert path.score_after == 65.0  # (100 + 100 + 20 + 40) / 4
    assert path.sentence == (
        "Raising Logins/week from 4 to 40 and cutting Open tickets from 9 to 2 would lift "
        "the score from 20.6 to 65 (yellow); green needs 70."
    )


def test_path_to_green_with_one_measure() -> None:
    spec = card(WAU, TICKETS)
    result = engine.score_account(
        spec, {"wau": [(days_ago(1), 50)], "tickets": [(days_ago(1), 5)]}, AT
    )
    path = engine.path_to_green(spec, result)
    assert path is not None
    assert len(path.steps) == 1 and path.steps[0].metric == "wau"
    assert path.score_after >= 70
    assert path.sentence == "Raise Weekly active users from 50 to 76.7 to reach green (70)."


def test_path_to_green_is_none_when_green_or_no_data() -> None:
    spec = card(WAU)
    assert (
        engine.path_to_green(spec, engine.score_account(spec, {"wau": [(days_ago(1), 90)]}, AT))
        is None
    )
    assert engine.path_to_green(spec, engine.score_account(spec, {}, AT)) is None


# --- properties ---------------------------------------------------------------------------

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
AGG = st.sampled_from(engine.AGGREGATIONS)


@st.composite
def measures(draw: st.DrawFn) -> MeasureSpec:
    bad = draw(st.floats(min_value=-1000, max_value=1000))
    good = draw(st.floats(min_value=-1000, max_value=1000))
    assume(abs(good - bad) > 1e-3)
    return MeasureSpec(
        metric=draw(st.sampled_from(["a", "b", "c", "d"])),
        weight=draw(st.floats(min_value=0.01, max_value=100)),
        aggregation=draw(AGG),
        window_days=draw(st.integers(min_value=1, max_value=60)),
        bad=bad,
        good=good,
    )


observations = st.dictionaries(
    st.sampled_from(["a", "b", "c", "d"]),
    st.lists(st.tuples(st.floats(min_value=0, max_value=150).map(days_ago), finite), max_size=8),
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(measures(), min_size=1, max_size=5),
    observations,
    st.sampled_from(engine.MISSING_POLICIES),
)
def test_score_is_within_0_100_or_null(ms: list[MeasureSpec], obs: dict, policy: str) -> None:
    result = engine.score_account(card(*ms, missing=policy), obs, AT)
    assert result.score is None or 0 <= result.score <= 100
    assert (result.score is None) == (result.band == "")
    if result.score is not None:
        assert result.score == engine.round1(result.score)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(finite, st.booleans()), min_size=1, max_size=6), st.data())
def test_ignore_renormalises_over_measures_with_data(values: list, data: st.DataObject) -> None:
    ms = [
        MeasureSpec(metric=f"m{i}", weight=data.draw(st.floats(0.1, 10)), bad=0, good=100)
        for i in range(len(values))
    ]
    present = [(m, v) for m, (v, has) in zip(ms, values, strict=True) if has]
    spec = card(*ms)
    result = engine.score_from_values(spec, [(v if has else None, False) for v, has in values])
    if not present:
        assert result.score is None
        return
    expected = sum(engine.points_for(v, bad=0, good=100) * m.weight for m, v in present) / sum(
        m.weight for m, _ in present
    )
    assert result.score == engine.round1(expected)
    # Dropping the missing measures altogether gives the same score.
    only = card(*(m for m, _ in present))
    assert engine.score_from_values(only, [(v, False) for _, v in present]).score == result.score


@settings(max_examples=300, deadline=None)
@given(st.lists(measures(), min_size=1, max_size=4), st.data())
def test_score_is_monotone_in_each_measures_value(
    ms: list[MeasureSpec], data: st.DataObject
) -> None:
    spec = card(*ms)
    values = [data.draw(st.one_of(st.none(), finite)) for _ in ms]
    i = data.draw(st.integers(min_value=0, max_value=len(ms) - 1))
    base = data.draw(finite)
    delta = data.draw(st.floats(min_value=0, max_value=1e6))
    better = base - delta if ms[i].lower_is_better else base + delta
    low = list(values)
    high = list(values)
    low[i], high[i] = base, better
    s_low = engine.score_from_values(spec, [(v, False) for v in low]).score
    s_high = engine.score_from_values(spec, [(v, False) for v in high]).score
    assert s_low is not None and s_high is not None
    assert s_high >= s_low


@settings(max_examples=300, deadline=None)
@given(
    st.floats(min_value=0, max_value=100),
    st.floats(min_value=0, max_value=100),
    st.floats(min_value=0, max_value=100),
)
def test_band_is_red_below_green_at_or_above_yellow_between(
    score: float, a: float, b: float
) -> None:
    red_below, green_at = min(a, b), max(a, b)
    band = engine.band_for(score, red_below=red_below, green_at=green_at)
    if score < red_below:
        assert band == "red"
    elif score >= green_at:
        assert band == "green"
    else:
        assert band == "yellow"


@settings(max_examples=200, deadline=None)
@given(
    st.lists(measures(), min_size=1, max_size=4),
    observations,
    st.sampled_from(engine.MISSING_POLICIES),
)
def test_stale_values_count_as_missing(ms: list[MeasureSpec], obs: dict, policy: str) -> None:
    spec = card(*ms, missing=policy)
    result = engine.score_account(spec, obs, AT)
    # Same score when every observation outside all windows is dropped entirely.
    horizon = max(2 * m.window_days for m in ms)
    recent = {
        k: [(t, v) for t, v in pts if t > AT - dt.timedelta(days=horizon)] for k, pts in obs.items()
    }
    again = engine.score_account(spec, recent, AT)
    assert again.score == result.score
    for m in result.measures:
        if m.stale:
            assert m.value is None
            assert m.points in (None, 0.0, 50.0)


@settings(max_examples=150, deadline=None)
@given(st.lists(measures(), min_size=1, max_size=4), observations)
def test_only_observations_up_to_the_moment_count(ms: list[MeasureSpec], obs: dict) -> None:
    spec = card(*ms)
    future = {k: [*pts, (AT + dt.timedelta(days=1), 1e6)] for k, pts in obs.items()}
    assert engine.score_account(spec, future, AT) == engine.score_account(spec, obs, AT)


@settings(max_examples=200, deadline=None)
@given(st.lists(measures(), min_size=1, max_size=4), observations)
def test_path_to_green_really_reaches_green(ms: list[MeasureSpec], obs: dict) -> None:
    spec = card(*ms)
    result = engine.score_account(spec, obs, AT)
    path = engine.path_to_green(spec, result)
    if path is None:
        return
    assert 1 <= len(path.steps) <= 2
    if path.reaches_green:
        assert path.score_after >= spec.green_at
    else:
        # The best two measures, each at its good threshold: better, not yet green.
        assert result.score is not None
        assert result.score < path.score_after < spec.green_at


def _scored_batch(
    ms: list[MeasureSpec], accounts: list[dict], policy: str
) -> tuple[ScorecardSpec, engine.BatchScores]:
    """The accounts' observations scored by the batch core, as the recompute does."""
    spec = card(*ms, missing=policy)
    stats = [
        {
            (m.metric, m.window_days): engine.window_stats(
                obs[m.metric], at=AT, window_days=m.window_days
            )
            for m in ms
            if obs.get(m.metric)
        }
        for obs in accounts
    ]
    arrays = engine.StatsArrays.from_stats(spec, stats, at=AT)
    return spec, engine.score_batch(spec, *engine.measure_values(spec, arrays))


def _stored(value: object) -> object:
    """A breakdown value as history stores it: one JSON cannot hold (an overflowing sum)
    reads back as None."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


# A batch to score: its measures, each account's observations, the missing-data policy
# (``_scored_batch`` takes them in this order).
batch_inputs = (
    st.lists(measures(), min_size=1, max_size=5),
    st.lists(observations, min_size=1, max_size=6),
    st.sampled_from(engine.MISSING_POLICIES),
)


@settings(max_examples=150, deadline=None)
@given(*batch_inputs)
def test_the_batch_core_equals_the_scalar_path(
    ms: list[MeasureSpec], accounts: list[dict], policy: str
) -> None:
    """The recompute scores N accounts in one call; each must get exactly what the
    one-account path (ingest, preview, backfill) gives it, breakdown included."""
    spec, batch = _scored_batch(ms, accounts, policy)
    for i, obs in enumerate(accounts):
        scalar = engine.score_account(spec, obs, AT)
        assert batch.result(i) == scalar
        assert batch.breakdown(i) == [
            {**d, "value": _stored(d["value"])} for d in scalar.breakdown()
        ]
        assert batch.score_at(i) == scalar.score and batch.band_at(i) == scalar.band


def test_batch_rounding_matches_round1_at_the_half() -> None:
    import numpy as np

    xs = np.array([0.05, 0.15, 0.25, 0.35, 1.45, 2.675, 42.25, 69.95, 99.95, 0.04999999999999999])
    assert engine.round1_array(xs).tolist() == [engine.round1(float(x)) for x in xs]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.floats(allow_nan=True, allow_infinity=True),
            st.floats(min_value=-200, max_value=200),
            st.integers(min_value=-2_000_000, max_value=2_000_000).map(lambda k: k / 20_000),
        ),
        max_size=40,
    ),
    st.integers(min_value=0, max_value=6),
)
def test_round_list_is_pythons_round(xs: list[float], digits: int) -> None:
    """Breakdowns round whole columns at once; every element must be exactly what
    Python's ``round`` gives (k / 20 000 lands on the .5 ties at 4 decimals)."""
    import numpy as np

    got = engine.round_list(np.array(xs, dtype=np.float64), digits)
    for x, g in zip(xs, got, strict=True):
        want = round(x, digits)
        assert (math.isnan(g) and math.isnan(want)) or (g == want and str(g) == str(want))


def _reference_rows(batch: engine.BatchScores, i: int) -> list[tuple]:
    """The breakdown cells, one at a time, as the contract defines them."""
    scored = not math.isnan(float(batch.score[i]))
    out = []
    for j in range(batch.values.shape[1]):
        v, p = float(batch.values[i, j]), float(batch.points[i, j])
        c, stale = float(batch.contributions[i, j]), bool(batch.stale[i, j])
        if math.isnan(v):
            value = None
        elif v.is_integer() and -1e12 < v < 1e12:
            value = v
        else:
            value = float(f"{v:.12g}")
        points = None if math.isnan(p) else round(p, 4)
        contribution = round(c, 4) if points is not None and scored else 0.0
        out.append((value, points, contribution, stale))
    return out


@settings(max_examples=150, deadline=None)
@given(*batch_inputs)
def test_batch_breakdown_cells_and_json(
    ms: list[MeasureSpec], accounts: list[dict], policy: str
) -> None:
    """The column-at-a-time breakdown equals the cell-by-cell definition, and its JSON text
    (what history stores) reads back as exactly the same dicts, but for a value JSON cannot
    hold (an overflowing sum): null, as history always stored it."""
    import orjson

    _, batch = _scored_batch(ms, accounts, policy)
    for i in range(len(accounts)):
        cells = _reference_rows(batch, i)
        assert batch._rows(i) == cells
        parsed = orjson.loads(batch.breakdown_json(i))
        assert [(d["value"], d["points"], d["contribution"], d["stale"]) for d in parsed] == [
            (_stored(v), p, c, s) for v, p, c, s in cells
        ]
        assert parsed == [{**d, "value": _stored(d["value"])} for d in batch.result(i).breakdown()]


def test_breakdown_json_of_a_scorecard_without_measures() -> None:
    import numpy as np

    batch = engine.score_batch(card(), np.zeros((2, 0)), np.zeros((2, 0), dtype=bool))
    assert [batch.breakdown_json(i) for i in range(2)] == ["[]", "[]"]
    assert batch.breakdown(1) == [] and batch.score_at(0) is None
