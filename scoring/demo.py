"""Demo scoring data: metric definitions, a default and an Enterprise scorecard, 180 days of
daily metric history for the demo accounts, and the score history computed from it by the
engine (weekly points, then a real recompute for today).

Deterministic (one seeded generator per account) and idempotent: each part is skipped when
it already exists, so a second run changes nothing. Fast: values go in with COPY
(PostgreSQL) or executemany (SQLite), the backfill scores in memory with the engine's
``SeriesIndex`` (each moment: a scorecard's accounts in one batch call) and writes history
in bulk.

Trajectories (``story``): most accounts are stable with noise and the book's seasons; some
decline, some dip and recover after a success plan, some improve for good, accounts in
onboarding ramp up, a few are churn-bound (usage fades, then stops reporting, so their data
goes stale). The stories are spread over time so the book as a whole stays level.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass

from django.db import transaction

from accounts.demo import DEMO_SEED, plan_accounts
from accounts.models import Account, Activity, LifecycleStage
from scoring import engine
from scoring.models import Measure, MetricDefinition, MetricValue, Score, Scorecard, SegmentSettings
from scoring.selectors.scorecards import active_scorecard_specs, spec_for_segment
from scoring.services.history import band_summary, insert_scores
from scoring.services.recompute import recompute_scores
from scoring.services.segment_settings import update_segment_settings
from scoring.services.values import load_metric_values

HISTORY_DAYS = 180
# Survey answers and sentiment readings start this long before the history, so the first
# scores see windows as full as today's (NPS averages 120 days) instead of a flattering
# few answers.
WARMUP_DAYS = 120
BACKFILL_EVERY_DAYS = 7

# key, name, unit, direction, description
METRICS: tuple[tuple[str, str, str, str, str], ...] = (
    (
        "active_users",
        "Weekly active users",
        "users",
        "higher",
        "People who used the product in the last 7 days.",
    ),
    (
        "feature_adoption",
        "Feature adoption",
        "%",
        "higher",
        "Share of the licensed features in regular use.",
    ),
    (
        "logins_per_user",
        "Login frequency",
        "logins/user/week",
        "higher",
        "Logins per active user per week.",
    ),
    ("nps", "NPS", "0–10", "higher", "Net Promoter Score answers (0–10)."),
    ("csat", "CSAT", "1–5", "higher", "Customer satisfaction answers (1–5)."),
    ("open_tickets", "Open support tickets", "tickets", "lower", "Support tickets not yet solved."),
    ("overdue_invoices", "Overdue invoices", "invoices", "lower", "Invoices past their due date."),
    (
        "csm_sentiment",
        "CSM sentiment",
        "1–5",
        "higher",
        "The CSM's own read of the relationship (1–5).",
    ),
    (
        "sentiment",
        "Feedback sentiment",
        "0–100",
        "higher",
        "Logged feedback: positive 100, neutral 50, negative 0.",
    ),
    (
        "days_since_login",
        "Days since last login",
        "days",
        "lower",
        "Days since anyone at the account logged in.",
    ),
)

# metric, weight, aggregation, window_days, bad, good
DEFAULT_MEASURES = (
    ("active_users", 3.0, "avg", 7, 5.0, 50.0),
    ("feature_adoption", 2.0, "latest", 30, 20.0, 70.0),
    ("logins_per_user", 1.0, "avg", 14, 0.5, 4.0),
    ("nps", 1.5, "avg", 120, 5.0, 9.0),
    ("csat", 1.0, "avg", 90, 3.0, 4.6),
    ("open_tickets", 1.0, "latest", 14, 10.0, 1.0),
    ("overdue_invoices", 1.0, "latest", 30, 2.0, 0.0),
    ("csm_sentiment", 1.5, "latest", 60, 1.5, 4.5),
)
ENTERPRISE_MEASURES = (
    ("active_users", 3.0, "avg", 7, 40.0, 400.0),
    ("feature_adoption", 2.0, "latest", 30, 25.0, 75.0),
    ("logins_per_user", 1.0, "avg", 14, 0.5, 4.0),
    ("nps", 2.0, "avg", 120, 5.0, 9.0),
    ("csat", 1.0, "avg", 90, 3.0, 4.6),
    ("open_tickets", 1.5, "latest", 14, 25.0, 3.0),
    ("overdue_invoices", 1.0, "latest", 30, 2.0, 0.0),
    ("csm_sentiment", 1.5, "latest", 60, 1.5, 4.5),
    ("sentiment", 1.0, "avg", 90, 25.0, 85.0),
    ("days_since_login", 1.0, "latest", 14, 10.0, 1.0),
)
SEATS = {"SMB": (12, 60), "Mid-Market": (40, 120), "Enterprise": (150, 900)}


@dataclass(frozen=True)
class Trajectory:
    kind: str  # stable | onboarding | declining | recovering | improving | churn_bound
    level: tuple[float, ...]  # latent health 0..1 per day, oldest first
    stops_reporting_at: int | None  # day index after which usage data stops
    turn_day: int | None = None  # the day the story turned (slide began, plan started...)


# Shares of the stories, chosen so the book is in a steady state: what declines in the
# window is matched by what recovers, ramps up or improves, so the team's average and the
# number of red accounts stay level over the 180 days (a test holds it), as in a real book.
STORIES = (("declining", 0.11), ("recovering", 0.12), ("improving", 0.05), ("churn_bound", 0.04))


def season(day: dt.date) -> float:
    """The whole book's seasonal swing: a summer lull (August) and a quieter last fortnight
    of the year, a few points of health at most."""
    doy = day.timetuple().tm_yday
    to_christmas = min(abs(doy - 358), 365 - abs(doy - 358))
    summer = -0.02 * math.exp(-(((doy - 222) / 25) ** 2))
    year_end = -0.03 * math.exp(-((to_christmas / 10) ** 2))
    return summer + year_end


def trajectory(
    rng: random.Random, start: dt.date, days: int = HISTORY_DAYS, *, onboarding: bool = False
) -> Trajectory:
    """One account's hidden health, day by day from ``start``. Each story can have begun
    before the window (its turn day may be negative), so on any day the book holds accounts
    at every stage of every story."""
    base = rng.uniform(0.62, 0.95) if rng.random() < 0.78 else rng.uniform(0.36, 0.62)
    turn: int | None = None
    stop: int | None = None
    kind = "stable"
    roll, acc = rng.random(), 0.0
    for name, share in STORIES:
        acc += share
        if roll < acc:
            kind = name
            break
    if onboarding:
        kind = "onboarding"
    shape: list[float]
    if kind == "onboarding":
        # A pilot, then onboarding ramps usage up over two or three months.
        turn, ramp, pilot = rng.randint(40, 150), rng.randint(50, 90), rng.uniform(0.4, 0.55)
        shape = [pilot + (base - pilot) * _ramp(d - turn, ramp) for d in range(days)]
    elif kind == "declining":
        # Stable, then a slide over one or two months (a champion left, a rival product).
        turn, slide, low = rng.randint(-120, 165), rng.randint(30, 60), rng.uniform(0.18, 0.45)
        base = max(base, 0.62)
        shape = [base + (low - base) * _ramp(d - turn, slide) for d in range(days)]
    elif kind == "recovering":
        # A dip; at its trough the CSM starts a success plan and health climbs back.
        dip, slide, trough = rng.randint(-130, 110), rng.randint(20, 35), rng.randint(7, 21)
        low, climb = rng.uniform(0.15, 0.35), rng.randint(40, 70)
        turn = dip + slide + trough // 2
        base = max(base, 0.6)
        shape = [
            base
            + (low - base) * _ramp(d - dip, slide)
            + (base + 0.05 - low) * _ramp(d - dip - slide - trough, climb)
            for d in range(days)
        ]
    elif kind == "improving":
        # Long unhappy, then a fix (an integration, a training) lifts it for good.
        turn, climb, low = rng.randint(-30, 150), rng.randint(40, 60), rng.uniform(0.2, 0.4)
        base = max(base, 0.62)
        shape = [low + (base - low) * _ramp(d - turn, climb) for d in range(days)]
    elif kind == "churn_bound":
        # Usage fades over three months, then stops: the data goes stale.
        turn, fade = rng.randint(20, 100), rng.randint(70, 100)
        base = min(base, 0.65)
        shape = [base + (0.03 - base) * _ramp(d - turn, fade) for d in range(days)]
        stop = min(days - rng.randint(8, 20), turn + fade + rng.randint(0, 10))
    else:
        shape = [base] * days
    # Day-to-day noise that wanders and comes back (AR(1)), plus the book's seasons.
    level, wobble = [], rng.gauss(0, 0.03)
    for d, value in enumerate(shape):
        wobble = 0.92 * wobble + rng.gauss(0, 0.012)
        level.append(value + wobble + season(start + dt.timedelta(days=d)))
    return Trajectory(
        kind=kind,
        level=tuple(min(1.0, max(0.0, x)) for x in level),
        stops_reporting_at=stop,
        turn_day=turn,
    )


def _ramp(elapsed: int, length: int) -> float:
    """0 before a change starts, 1 once it is done, linear in between."""
    return min(1.0, max(0.0, elapsed / length))


def story(*, account_index: int, onboarding: bool, today: dt.date) -> Trajectory:
    """The demo account's trajectory over the history window ending ``today`` (the one its
    metric values, outcome, feedback and success plan all follow)."""
    start = today - dt.timedelta(days=HISTORY_DAYS - 1)
    return trajectory(random.Random(DEMO_SEED * 7 + account_index), start, onboarding=onboarding)


def generate_values(
    *, account_index: int, segment: str, traj: Trajectory, days: list[dt.datetime]
) -> list[tuple[str, dt.datetime, float]]:
    """(metric key, observed_at, value) rows for one demo account, deterministic."""
    rng = random.Random(DEMO_SEED * 11 + account_index)
    low, high = SEATS.get(segment, SEATS["SMB"])
    seats = rng.randint(low, high)
    rows: list[tuple[str, dt.datetime, float]] = []
    nps_every, csat_every = rng.randint(25, 40), rng.randint(14, 28)
    csm_every, sentiment_every = rng.randint(10, 21), rng.randint(12, 30)
    offset = rng.randint(0, 9)
    days_since = 0
    for d in range(-WARMUP_DAYS, len(days)):
        at = days[0] + dt.timedelta(days=d)
        h = traj.level[max(d, 0)]
        reporting = traj.stops_reporting_at is None or d < traj.stops_reporting_at
        if d < 0:
            pass  # before the window: only the sparse answers and readings below
        elif reporting:
            rows.append(
                (
                    "active_users",
                    at,
                    float(max(0, round(seats * (0.08 + 0.85 * h) * rng.uniform(0.93, 1.07)))),
                )
            )
            rows.append(
                (
                    "feature_adoption",
                    at,
                    round(min(100.0, max(0.0, 12 + 72 * h + rng.gauss(0, 2.5))), 1),
                )
            )
            rows.append(
                ("logins_per_user", at, round(max(0.0, 0.2 + 4.6 * h + rng.gauss(0, 0.25)), 2))
            )
            rows.append(
                ("open_tickets", at, float(max(0, round(14 * (1 - h) ** 1.5 + rng.gauss(0, 1.2)))))
            )
            days_since = 0 if h > 0.25 or rng.random() < 0.5 else days_since + 1
        else:
            days_since += 1
        if segment == "Enterprise" and d >= 0:
            rows.append(("days_since_login", at, float(days_since)))
        if d >= 0 and d % 7 == offset % 7:
            overdue = 0 if h > 0.4 or rng.random() < 0.6 else rng.randint(1, 3)
            rows.append(("overdue_invoices", at, float(overdue)))
        if (d + offset) % nps_every == 0:
            rows.append(("nps", at, float(min(10, max(0, round(2 + 8 * h + rng.gauss(0, 1.0)))))))
        if (d + offset) % csat_every == 0:
            rows.append(
                ("csat", at, float(min(5, max(1, round(1.2 + 3.8 * h + rng.gauss(0, 0.4))))))
            )
        if (d + offset) % csm_every == 0:
            rows.append(
                ("csm_sentiment", at, float(min(5, max(1, round(1 + 4 * h + rng.gauss(0, 0.4))))))
            )
        if (d + offset) % sentiment_every == 0:
            mood = h + rng.gauss(0, 0.12)
            rows.append(("sentiment", at, 100.0 if mood > 0.62 else 0.0 if mood < 0.33 else 50.0))
    return rows


def seed(*, today: dt.date) -> dict[str, int]:
    created = {"metric_definitions": 0, "scorecards": 0, "metric_values": 0, "scores": 0}
    with transaction.atomic():
        metrics = _ensure_metrics(created)
        _ensure_scorecards(metrics, created)
    plan = plan_accounts(today)
    ids = dict(
        Account.objects.filter(external_id__in=[a.external_id for a in plan]).values_list(
            "external_id", "id"
        )
    )
    if not ids:
        return created
    if MetricValue.objects.filter(account_id__in=ids.values()).exists():
        return created  # already seeded
    days = [
        dt.datetime.combine(
            today - dt.timedelta(days=HISTORY_DAYS - 1 - i), dt.time(), tzinfo=dt.UTC
        )
        for i in range(HISTORY_DAYS)
    ]
    metric_ids = {m.key: m.pk for m in metrics.values()}
    rows: list[tuple[int, str, dt.datetime, float]] = []
    for index, demo_account in enumerate(plan):
        account_id = ids.get(demo_account.external_id)
        if account_id is None:
            continue
        traj = story(
            account_index=index,
            onboarding=demo_account.lifecycle_stage == LifecycleStage.ONBOARDING,
            today=today,
        )
        for key, at, value in generate_values(
            account_index=index, segment=demo_account.segment, traj=traj, days=days
        ):
            rows.append((account_id, key, at, value))
    with transaction.atomic():
        load_metric_values((a, metric_ids[k], t, v) for a, k, t, v in rows)
        created["metric_values"] = len(rows)
        created["scores"] = _backfill(
            rows, ids=ids, plan_segments={a.external_id: a.segment for a in plan}, days=days
        )
    # Today's score through the product's own recompute (sets the account's current health,
    # 30-day change and top mover); the markers the load did not write are not needed.
    recompute_scores(account_ids=list(ids.values()))
    return created


def seed_segment(*, today: dt.date) -> dict[str, int]:
    """An example Segment configuration, switched off: the company id in identify traits
    names the account, two product events are counted per day. Kept if one exists."""
    if SegmentSettings.objects.exists():
        return {"segment_settings": 0}
    update_segment_settings(
        actor=None,
        enabled=False,
        identify_trait="company_id",
        tracked_events=["Report Exported", "Dashboard Viewed"],
    )
    return {"segment_settings": 1}


def _ensure_metrics(created: dict[str, int]) -> dict[str, MetricDefinition]:
    existing = {m.key: m for m in MetricDefinition.objects.filter(key__in=[k for k, *_ in METRICS])}
    new = [
        MetricDefinition(key=k, name=n, unit=u, direction=d, description=desc)
        for k, n, u, d, desc in METRICS
        if k not in existing
    ]
    MetricDefinition.objects.bulk_create(new)
    created["metric_definitions"] = len(new)
    return {m.key: m for m in MetricDefinition.objects.filter(key__in=[k for k, *_ in METRICS])}


def _ensure_scorecards(metrics: dict[str, MetricDefinition], created: dict[str, int]) -> None:
    for segment, name, measures in (
        ("", "Default health", DEFAULT_MEASURES),
        ("Enterprise", "Enterprise health", ENTERPRISE_MEASURES),
    ):
        if Scorecard.objects.filter(segment=segment).exists():
            continue
        card = Scorecard.objects.create(
            name=name,
            segment=segment,
            version=1,
            status=Scorecard.Status.ACTIVE,
            change_summary=["First version for this segment."],
        )
        Measure.objects.bulk_create(
            [
                Measure(
                    scorecard=card,
                    metric=metrics[key],
                    weight=w,
                    aggregation=agg,
                    window_days=win,
                    bad=bad,
                    good=good,
                    position=i,
                )
                for i, (key, w, agg, win, bad, good) in enumerate(measures)
            ]
        )
        created["scorecards"] += 1


def _backfill(
    rows: list[tuple[int, str, dt.datetime, float]],
    *,
    ids: dict[str, int],
    plan_segments: dict[str, str],
    days: list[dt.datetime],
) -> int:
    """Weekly score history with the engine, from the values just generated (in memory: the
    same numbers the database holds). A row only when score, band or breakdown changed."""
    specs = active_scorecard_specs()
    index = engine.SeriesIndex(rows)
    moments = days[BACKFILL_EVERY_DAYS - 1 :: BACKFILL_EVERY_DAYS]
    # Noon, so the moment is after that day's values (observed at midnight).
    moments = [m + dt.timedelta(hours=12) for m in moments if m < days[-1]]
    scores: list[Score] = []
    activities: list[Activity] = []
    # Accounts grouped by scorecard; each moment scores a whole group in one engine call.
    groups: dict[int, tuple[engine.ScorecardSpec, list[int]]] = {}
    for external_id, account_id in ids.items():
        spec = spec_for_segment(specs, plan_segments[external_id])
        if spec is not None:
            groups.setdefault(id(spec), (spec, []))[1].append(account_id)
    for spec, members in groups.values():
        previous: dict[int, engine.ScoreResult] = {}
        for at in moments:
            arrays = engine.StatsArrays.from_stats(
                spec, [index.stats_for(a, spec, at=at) for a in members], at=at
            )
            batch = engine.score_batch(spec, *engine.measure_values(spec, arrays))
            for i, account_id in enumerate(members):
                result = batch.result(i)
                before = previous.get(account_id)
                if before is not None and (result.score, result.band, result.measures) == (
                    before.score,
                    before.band,
                    before.measures,
                ):
                    continue
                scores.append(
                    Score(
                        account_id=account_id,
                        scorecard_id=int(spec.id or 0),
                        score=result.score,
                        band=result.band,
                        computed_at=at,
                        breakdown=result.breakdown(),
                    )
                )
                if before is not None and before.band != result.band:
                    activities.append(
                        Activity(
                            account_id=account_id,
                            kind=Activity.Kind.BAND_CHANGED,
                            occurred_at=at,
                            summary=band_summary(before.band, result.band, result.score),
                            details={"from": before.band, "to": result.band, "score": result.score},
                        )
                    )
                previous[account_id] = result
    for start in range(0, len(scores), 2000):
        insert_scores(scores[start : start + 2000])
    Activity.objects.bulk_create(activities, batch_size=2000)
    return len(scores)
