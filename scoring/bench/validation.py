"""The validation page's work: a backtest and suggested weights on 10 000 synthetic accounts
(``validation``), and a backtest of each active demo scorecard (``backtest``). The data
builders serve the draft preview bench too (chs_site/bench_pages.py)."""

from __future__ import annotations

import datetime as dt
import math
import random
import time
from collections.abc import Iterator
from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import demo as accounts_demo
from accounts.models import Account
from chs_site.benchmarks import accounts_option, peak_rss_mb
from scoring import demo, demo_outcomes, synthetic, validation
from scoring.models import Outcome, Scorecard

VALIDATION_ACCOUNTS = 10_000
VALIDATION_DAYS = 180
VALIDATION_OUTCOMES = 2_000


def seed_demo_with_outcomes() -> None:
    """The 600-account demo with its outcomes (what the backtest and the preview read)."""
    today = timezone.localdate()
    accounts_demo.seed(today=today)
    demo.seed(today=today)
    demo_outcomes.seed(today=today)


def validation_data(n: int, *, outcomes: int, days: int = VALIDATION_DAYS) -> dict[str, Any]:
    """n accounts with ``days`` days of daily values for 2 signal and 2 noise metrics and
    ``outcomes`` outcomes whose churn follows the signal metrics only (the same hidden rule
    as ``scoring.synthetic``, generated server-side on PostgreSQL)."""
    today = timezone.localdate()
    if connection.vendor != "postgresql":
        data = synthetic.generate(accounts=n, days=days, today=today, seed=17, segment="Validation")
        ids, metrics = data.account_ids, data.metrics
    else:
        metrics = synthetic.ensure_metrics()
        Account.objects.bulk_create(
            [
                Account(external_id=f"VAL-{i:07d}", name=f"Validation {i}", segment="Validation")
                for i in range(n)
            ],
            batch_size=5000,
        )
        ids = list(
            Account.objects.filter(segment="Validation").order_by("id").values_list("id", flat=True)
        )
        first = dt.datetime.combine(today - dt.timedelta(days=days - 1), dt.time(), tzinfo=dt.UTC)
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO scoring_metricvalue (account_id, metric_id, observed_at, value)
                SELECT a.id, m.id, %s::timestamptz + make_interval(days => d),
                       ((a.id * 7919 + m.id * 104729) %% 1000) / 10.0
                       + ((a.id * 31 + m.id * 17 + d * 13) %% 9) - 4
                FROM unnest(%s::bigint[]) AS a(id)
                CROSS JOIN unnest(%s::bigint[]) AS m(id)
                CROSS JOIN generate_series(0, %s) AS d
                """,
                [first, ids, [m.pk for m in metrics.values()], days - 1],
            )
            cursor.execute("ANALYZE scoring_metricvalue")
        rng = random.Random(17)
        rows = []
        for i, account_id in enumerate(rng.sample(ids, min(outcomes, len(ids)))):
            levels = [
                ((account_id * 7919 + metrics[k].pk * 104729) % 1000) / 10.0
                for k in synthetic.SIGNAL
            ]
            health = sum(levels) / len(levels) / 100
            churned = rng.random() < 1 / (1 + math.exp(12 * (health - 0.5)))
            rows.append(
                Outcome(
                    account_id=account_id,
                    kind=Outcome.Kind.CHURNED if churned else Outcome.Kind.RENEWED,
                    occurred_at=today - dt.timedelta(days=i % 60),
                )
            )
        Outcome.objects.bulk_create(rows, batch_size=5000)
    # Their own segment, so nothing else in the database (the demo) enters the figures.
    Scorecard.objects.filter(segment="Validation").delete()
    true_card = synthetic.make_scorecard(
        metrics=metrics, keys=synthetic.SIGNAL, name="True", segment="Validation"
    )
    mixed = synthetic.make_scorecard(
        metrics=metrics,
        keys=synthetic.SIGNAL + synthetic.NOISE,
        name="Mixed",
        status=Scorecard.Status.DRAFT,
        segment="Validation",
    )
    return {"ids": ids, "true": true_card, "mixed": mixed}


def bench_validation(options: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Backtest and suggested weights for 10 000 accounts × 180 days of daily history
    (4 metrics) and 2 000 outcomes, inline (the same code the API and the page run)."""
    n = accounts_option(options, [VALIDATION_ACCOUNTS])[-1]
    start = time.perf_counter()
    data = validation_data(n, outcomes=VALIDATION_OUTCOMES)
    gen_seconds = time.perf_counter() - start
    with CaptureQueriesContext(connection) as queries:
        start = time.perf_counter()
        backtest = validation.run_backtest(scorecard=data["true"])
        backtest_seconds = time.perf_counter() - start
    yield {
        "bench": "validation_backtest",
        "accounts": n,
        "days": VALIDATION_DAYS,
        "outcomes": backtest.metrics.n_outcomes,
        "churned": backtest.metrics.n_churned,
        "auc": backtest.metrics.auc,
        "seconds": round(backtest_seconds, 2),
        "queries": len(queries),
        "generate_seconds": round(gen_seconds, 1),
    }
    start = time.perf_counter()
    suggestion = validation.run_suggestion(scorecard=data["mixed"])
    seconds = time.perf_counter() - start
    yield {
        "bench": "validation_suggest_weights",
        "accounts": n,
        "outcomes": suggestion.n_outcomes,
        "auc_current": suggestion.auc_current,
        "auc_suggested": suggestion.auc_suggested,
        "no_signal": [s.measure.metric for s in suggestion.measures if s.no_signal],
        "seconds": round(seconds, 2),
        "peak_rss_mb": peak_rss_mb(),
    }


def bench_backtest(options: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Backtest of each active demo scorecard (600 accounts, 180 days, demo outcomes)."""
    seed_demo_with_outcomes()
    for card in Scorecard.objects.filter(status=Scorecard.Status.ACTIVE).order_by("segment"):
        with CaptureQueriesContext(connection) as queries:
            start = time.perf_counter()
            backtest = validation.run_backtest(scorecard=card)
            seconds = time.perf_counter() - start
        yield {
            "bench": "backtest_demo",
            "scorecard": f"{card.name} v{card.version}",
            "outcomes": backtest.metrics.n_outcomes,
            "auc": backtest.metrics.auc,
            "seconds": round(seconds, 3),
            "queries": len(queries),
        }


BENCHMARKS = [bench_validation, bench_backtest]
