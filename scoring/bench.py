"""Benchmarks of the scoring app (``python manage.py bench <name> [--accounts N[,N…]]``).

* ``scoring``: N accounts × 8 measures × 30 days of daily values (generated server-side in
  one INSERT … SELECT on PostgreSQL), the product's full recompute timed, and a
  straightforward per-account ORM loop timed on a sample and extrapolated; both must give
  identical scores. One line per N (default 10 000): accounts, seconds, accounts/second,
  ratio to the naive loop, queries per batch, peak RSS.
* ``scoring_demo``: the full recompute of the 600-account demo.
* ``scoring_engine``: the pure engine alone (scores/second).
* ``scoring_latency``: one account's values ingested → its new stored score, through Redis
  and a real Celery worker this benchmark starts (p50/p95 over 50 rounds). It commits, so it
  creates its own rows and deletes them afterwards.
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
from celery import group
from django.conf import settings
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Account, User, owner_sort_name
from chs_site.benchmarks import (
    accounts_option,
    children_peak_rss_mb,
    delete_account_rows,
    p95,
    peak_rss_mb,
    sending_to,
    settle,
    start_celery_worker,
)
from chs_site.celery import app as celery_app
from scoring import engine, tasks
from scoring.contracts import MetricValueIn
from scoring.models import (
    Measure,
    MetricDefinition,
    MetricValue,
    Score,
    Scorecard,
)
from scoring.selectors import preview
from scoring.selectors.scorecards import active_scorecard_specs, scorecard_spec
from scoring.services.dirty import COALESCE_SECONDS
from scoring.services.recompute import NIGHTLY_CHUNK, recompute_scores
from scoring.services.values import load_metric_values, record_metric_values

BENCH_METRICS = 8
BENCH_DAYS = 30
NAIVE_SAMPLE = 200
LATENCY_ROUNDS = 50
LATENCY_SEGMENT = "BenchLatency"


BENCH_SEGMENT = "Bench"


def _bench_scorecard() -> tuple[Scorecard, list[MetricDefinition]]:
    """A segment scorecard of its own (the company's default scorecard is left alone)."""
    metrics = []
    for i in range(BENCH_METRICS):
        metric, _ = MetricDefinition.objects.get_or_create(
            key=f"bench_m{i}", defaults={"name": f"Bench metric {i}"}
        )
        metrics.append(metric)
    Scorecard.objects.filter(segment=BENCH_SEGMENT).delete()
    card = Scorecard.objects.create(
        name="Bench", segment=BENCH_SEGMENT, version=1, status=Scorecard.Status.ACTIVE
    )
    aggs = ("latest", "avg", "sum", "count", "change_pct", "avg", "latest", "avg")
    windows = (7, 14, 30, 30, 14, 30, 30, 7)
    Measure.objects.bulk_create(
        Measure(
            scorecard=card,
            metric=m,
            weight=1 + i % 3,
            aggregation=aggs[i],
            window_days=windows[i],
            bad=(100.0 if i % 4 == 3 else 0.0) if aggs[i] != "change_pct" else -30.0,
            good=(0.0 if i % 4 == 3 else 100.0) if aggs[i] != "change_pct" else 10.0,
            position=i,
        )
        for i, m in enumerate(metrics)
    )
    return card, metrics


def _generate(n: int, metrics: list[MetricDefinition], at: dt.datetime) -> list[int]:
    """n more accounts, each with BENCH_DAYS daily values per metric (value 0..100); returns
    every bench account's id."""
    owner = User.objects.order_by("pk").first()
    start = Account.objects.filter(segment=BENCH_SEGMENT).count()
    Account.objects.bulk_create(
        [
            Account(
                external_id=f"BENCH-{start + i:07d}",
                name=f"Bench {start + i}",
                segment=BENCH_SEGMENT,
                owner=owner,
                owner_sort_name=owner_sort_name(owner),
            )
            for i in range(n)
        ],
        batch_size=5000,
    )
    ids = list(
        Account.objects.filter(segment=BENCH_SEGMENT).order_by("id").values_list("id", flat=True)
    )
    new_ids = ids[len(ids) - n :]  # earlier rounds' accounts already have their values
    metric_ids = [m.pk for m in metrics]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # Server-side generation: one statement, no round trips. The value mixes the
            # account, metric and day so accounts differ and windows matter.
            cursor.execute(
                """
                INSERT INTO scoring_metricvalue (account_id, metric_id, observed_at, value)
                SELECT a.id, m.id, %s::timestamptz - make_interval(days => d),
                       ((a.id * 37 + m.id * 11 + d * 7) %% 101)::float8
                FROM unnest(%s::bigint[]) AS a(id)
                CROSS JOIN unnest(%s::bigint[]) AS m(id)
                CROSS JOIN generate_series(0, %s) AS d
                """,
                [at, new_ids, metric_ids, BENCH_DAYS - 1],
            )
    else:
        load_metric_values(
            (a, m, at - dt.timedelta(days=d), float((a * 37 + m * 11 + d * 7) % 101))
            for a in new_ids
            for m in metric_ids
            for d in range(BENCH_DAYS)
        )
    return ids


def _delete_bench_rows(*tables: str) -> bool:
    """Delete the bench accounts' rows from these tables (inside the caller's transaction).
    False when there are no bench accounts."""
    return delete_account_rows(Account.objects.filter(segment=BENCH_SEGMENT), *tables)


def _delete_bench_data() -> None:
    """Remove every bench account and what hangs off it (also a crashed run's leftovers).
    The big tables first; Django's collector does the rest."""
    with transaction.atomic():
        if _delete_bench_rows(
            "scoring_metricvalue",
            "scoring_score",
            "scoring_scoreevent",
            "accounts_activity",
            "scoring_dirtyaccount",
        ):
            Account.objects.filter(segment=BENCH_SEGMENT).delete()
    Scorecard.objects.filter(segment=BENCH_SEGMENT).delete()


def _naive_loop(account_ids: list[int], at: dict[int, dt.datetime]) -> dict[int, float | None]:
    """What a straightforward implementation does: per account, find its scorecard, then per
    measure query the values and aggregate them; save a history row and the account. Each
    account is scored at the moment the product scored it (``at``)."""
    scores: dict[int, float | None] = {}
    for account_id in account_ids:
        account = Account.objects.get(pk=account_id)
        moment = at[account_id]
        card = (
            Scorecard.objects.filter(status="active", segment=account.segment).first()
            or Scorecard.objects.filter(status="active", segment="").first()
        )
        assert card is not None
        spec = scorecard_spec(card)
        stats = {}
        for m in card.measures.select_related("metric"):
            values = list(
                MetricValue.objects.filter(
                    account=account, metric=m.metric, observed_at__lte=moment
                ).values_list("observed_at", "value")
            )
            if values:
                stats[(m.metric.key, m.window_days)] = engine.window_stats(
                    values, at=moment, window_days=m.window_days
                )
        result = engine.score_from_stats(spec, stats, at=moment)
        Score.objects.create(
            account=account,
            scorecard=card,
            score=result.score,
            band=result.band,
            computed_at=moment + dt.timedelta(microseconds=1),
            breakdown=result.breakdown(),
        )
        account.computed_score = result.score
        account.save(update_fields=["computed_score"])
        scores[account_id] = result.score
    return scores


def _recompute_with_workers(ids: list[int], workers: int) -> tuple[float, int]:
    """The product's nightly full recompute of these accounts: id-range chunks as a Celery
    group, shared by ``workers`` prefork processes this benchmark starts. Returns (seconds
    from dispatch until every account has its new score, chunks)."""
    queue = f"chs-bench-{os.getpid()}"
    worker = start_celery_worker(
        queue=queue,
        node=f"bench-{os.getpid()}@localhost",
        pool="prefork",
        concurrency=workers,
        log_path=settings.VAR_DIR / f"bench-worker-{os.getpid()}.log",
        loglevel="WARNING",
    )
    try:
        worker.wait_until_ready(timeout=60)
        step = NIGHTLY_CHUNK
        chunks = [(ids[i], ids[min(i + step, len(ids)) - 1]) for i in range(0, len(ids), step)]
        # Each chunk is one batch, one transaction: its last account scored = chunk done.
        # (A cheap probe, ten times a second: polling every 20 ms took 7 % of a core from
        # the workers, for a reading at most 0.1 s late.)
        lasts = Account.objects.filter(pk__in=[b for _, b in chunks])
        start_mark = timezone.now()
        start = time.perf_counter()
        with sending_to(queue):
            group(tasks.recompute_chunk.s(a, b) for a, b in chunks).apply_async()
        while lasts.filter(computed_at__gte=start_mark).count() < len(chunks):
            if worker.poll() is not None or time.perf_counter() - start > 1800:
                raise RuntimeError(f"the bench workers stopped or stalled; see {worker.log_path}")
            time.sleep(0.1)
        seconds = time.perf_counter() - start
        done = Account.objects.filter(segment=BENCH_SEGMENT, computed_at__gte=start_mark).count()
        assert done == len(ids), f"only {done} of {len(ids)} accounts were recomputed"
        return seconds, len(chunks)
    finally:
        worker.stop(timeout=60)


def bench_scoring(options: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Full recompute of N accounts × 8 measures × 30 days against a naive ORM loop.

    With a broker and PostgreSQL it runs the product's nightly path: committed data, vacuumed
    and checkpointed (``chs_site.benchmarks.settle``), recomputed in id-range chunks by real prefork workers
    (one per core), then removed again. Otherwise (SQLite, in-process tasks) the same recompute runs
    in this process, inside the command's rolled-back transaction."""
    committed = connection.get_autocommit()
    use_workers = (
        committed and connection.vendor == "postgresql" and not celery_app.conf.task_always_eager
    )
    workers = int(options.get("workers") or os.cpu_count() or 1) if use_workers else 1
    if committed:
        _delete_bench_data()
    try:
        yield from _bench_scoring_rounds(options, use_workers=use_workers, workers=workers)
    finally:
        if committed:
            _delete_bench_data()


def _reset_scores() -> None:
    """Back to never scored (so every round times the same work: first scores for all)."""
    with transaction.atomic():
        _delete_bench_rows("scoring_score", "scoring_scoreevent", "accounts_activity")
    Account.objects.filter(segment=BENCH_SEGMENT).update(
        health_score=None,
        health_band="",
        computed_score=None,
        computed_band="",
        computed_at=None,
        score_change_30d=None,
        top_mover="",
    )


def _timed_recompute(
    ids: list[int], *, use_workers: bool, workers: int
) -> tuple[float, int, float | None]:
    """(seconds, batches or chunks, queries per batch when in-process)."""
    if use_workers:
        seconds, chunks = _recompute_with_workers(ids, workers)
        return seconds, chunks, None
    with CaptureQueriesContext(connection) as queries:
        start = time.perf_counter()
        result = recompute_scores(account_ids=ids, batch_size=NIGHTLY_CHUNK)
        seconds = time.perf_counter() - start
    return seconds, result.batches, round(len(queries) / max(result.batches, 1), 1)


def _bench_scoring_rounds(
    options: dict[str, Any], *, use_workers: bool, workers: int
) -> Iterator[dict[str, Any]]:
    _, metrics = _bench_scorecard()
    at = timezone.now()
    total_ids: list[int] = []
    tables = (
        "scoring_metricvalue",
        "accounts_account",
        "scoring_score",
        "scoring_scoreevent",
        "accounts_activity",
    )
    for n in sorted(accounts_option(options, [10_000])):
        gen_start = time.perf_counter()
        ids = _generate(n - len(total_ids), metrics, at)
        total_ids = ids
        gen_seconds = time.perf_counter() - gen_start
        _reset_scores()
        settle(*tables)
        # The first full recompute: every account gets its first score, history row and
        # "entered <band>" activity; the heaviest night there is.
        seconds, batches, queries_per_batch = _timed_recompute(
            ids, use_workers=use_workers, workers=workers
        )
        history_rows = Score.objects.filter(account__segment=BENCH_SEGMENT).count()
        sample = ids[:NAIVE_SAMPLE]
        stored = {
            a: (score, moment)
            for a, score, moment in Account.objects.filter(pk__in=sample).values_list(
                "pk", "computed_score", "computed_at"
            )
        }
        naive_start = time.perf_counter()
        with transaction.atomic():
            # Every account of the sample was just scored, so it has its moment.
            naive = _naive_loop(sample, {a: stored[a][1] or at for a in sample})
            transaction.set_rollback(True)
        naive_seconds = (time.perf_counter() - naive_start) * len(ids) / len(sample)
        mismatches = sum(1 for a in sample if naive[a] != stored[a][0])
        assert mismatches == 0, f"{mismatches} scores differ between the naive loop and recompute"
        # The next night, nothing new (autovacuum has run in between): scores are checked,
        # the accounts' computed_at moves, no history row is written.
        settle(*tables)
        steady_seconds, _, _ = _timed_recompute(ids, use_workers=use_workers, workers=workers)
        yield {
            "bench": "scoring_full_recompute",
            "accounts": len(ids),
            "measures": BENCH_METRICS,
            "values": len(ids) * BENCH_METRICS * BENCH_DAYS,
            "generate_seconds": round(gen_seconds, 2),
            "path": f"celery group, {workers} prefork workers" if use_workers else "in-process",
            "seconds": round(seconds, 2),
            "accounts_per_second": round(len(ids) / seconds),
            "naive_seconds_extrapolated": round(naive_seconds, 1),
            "ratio_to_naive": round(naive_seconds / seconds, 1),
            "identical_scores_in_sample": len(sample),
            "batches": batches,  # chunks when the workers run it
            "queries_per_batch": queries_per_batch,
            "history_rows": history_rows,
            "steady_seconds": round(steady_seconds, 2),
            "steady_accounts_per_second": round(len(ids) / steady_seconds),
            "steady_history_rows": Score.objects.filter(account__segment=BENCH_SEGMENT).count()
            - history_rows,
            # This process's peak, and the largest worker's (one batch at a time each).
            "peak_rss_mb": peak_rss_mb(),
            "worker_peak_rss_mb": children_peak_rss_mb() if use_workers else None,
            # The machine is shared: compare ratios within one run, not across loads.
            "load_average_1m": round(os.getloadavg()[0], 2),
        }


bench_scoring.commits = True  # type: ignore[attr-defined]


def bench_scoring_demo(options: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Full recompute of the 600-account demo (seeded inside the rolled-back transaction)."""
    from accounts import demo as accounts_demo
    from scoring import demo

    today = timezone.localdate()
    start = time.perf_counter()
    accounts_demo.seed(today=today)
    demo.seed(today=today)
    seed_seconds = time.perf_counter() - start
    ids = list(Account.objects.order_by("id").values_list("id", flat=True))
    with CaptureQueriesContext(connection) as queries:
        start = time.perf_counter()
        result = recompute_scores(account_ids=ids)
        seconds = time.perf_counter() - start
    yield {
        "bench": "scoring_demo_recompute",
        "accounts": len(ids),
        "seed_seconds": round(seed_seconds, 2),
        "seconds": round(seconds, 3),
        "accounts_per_second": round(len(ids) / seconds),
        "batches": result.batches,
        "queries_per_batch": round(len(queries) / max(result.batches, 1), 1),
    }


def bench_scoring_engine(options: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The pure engine alone: score_from_stats on an 8-measure scorecard."""
    at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    spec = engine.ScorecardSpec(
        measures=tuple(
            engine.MeasureSpec(metric=f"m{i}", weight=1 + i % 3, aggregation=agg, window_days=30)
            for i, agg in enumerate(("latest", "avg", "sum", "count", "change_pct") * 2)
        )[:8]
    )
    stats = {
        (m.metric, m.window_days): engine.WindowStats(
            latest_at=at - dt.timedelta(days=1),
            latest_value=50.0 + i,
            count=30,
            total=1500.0 + i,
            prev_count=30,
            prev_total=1400.0,
        )
        for i, m in enumerate(spec.measures)
    }
    n = 10_000
    start = time.perf_counter()
    for _ in range(n):
        engine.score_from_stats(spec, stats, at=at)
    seconds = time.perf_counter() - start
    yield {
        "bench": "scoring_engine",
        "path": "one account per call (ingest, preview)",
        "measures": len(spec.measures),
        "scores": n,
        "scores_per_second": round(n / seconds),
    }
    # The same core over a whole batch at once, as the full recompute calls it.
    n_batch = 100_000
    one = engine.StatsArrays.from_stats(spec, [stats], at=at)
    arrays = engine.StatsArrays(
        **{f: np.repeat(getattr(one, f), n_batch, axis=0) for f in one.__dataclass_fields__}
    )
    start = time.perf_counter()
    batch = engine.score_batch(spec, *engine.measure_values(spec, arrays))
    seconds = time.perf_counter() - start
    assert batch.result(n_batch - 1) == engine.score_from_stats(spec, stats, at=at)
    yield {
        "bench": "scoring_engine",
        "path": "batch of accounts per call (full recompute)",
        "measures": len(spec.measures),
        "scores": n_batch,
        "scores_per_second": round(n_batch / seconds),
    }


def bench_scoring_latency(options: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Ingest one account's values → its new stored score, via Redis and a real worker."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        yield {"bench": "scoring_latency", "skipped": "needs CELERY_BROKER_URL (a real worker)"}
        return
    queue = f"chs-bench-{os.getpid()}"
    worker = start_celery_worker(
        queue=queue,
        node=f"bench-{os.getpid()}@localhost",
        log_path=settings.VAR_DIR / f"bench-worker-{os.getpid()}.log",
        loglevel="WARNING",
    )
    metric = card = account = None
    try:
        worker.wait_until_ready(timeout=60)
        metric = MetricDefinition.objects.create(key=f"bench_latency_{os.getpid()}", name="Latency")
        account = Account.objects.create(
            external_id=f"BENCH-LATENCY-{os.getpid()}", name="Latency", segment=LATENCY_SEGMENT
        )
        card = Scorecard.objects.create(
            name="Latency", segment=LATENCY_SEGMENT, status=Scorecard.Status.ACTIVE
        )
        Measure.objects.create(scorecard=card, metric=metric, weight=1, bad=0, good=1000)
        samples = []
        with sending_to(queue):
            for i in range(LATENCY_ROUNDS):
                value = float(1 + i)
                start = time.perf_counter()
                record_metric_values(
                    values=[MetricValueIn(account.pk, metric.pk, value, timezone.now())]
                )
                while True:
                    got = Account.objects.filter(pk=account.pk).values_list(
                        "computed_score", flat=True
                    )[0]
                    if got == engine.round1(value / 10):
                        break
                    if time.perf_counter() - start > 30:
                        raise RuntimeError(
                            f"no score after 30 s (stored {got!r}, expected {value / 10})"
                        )
                    time.sleep(0.01)
                samples.append(time.perf_counter() - start)
        yield {
            "bench": "scoring_ingest_to_score_latency",
            "rounds": len(samples),
            "p50_seconds": round(statistics.median(samples), 3),
            "p95_seconds": round(p95(samples), 3),
            "max_seconds": round(max(samples), 3),
            "coalesce_seconds": COALESCE_SECONDS,
        }
    finally:
        worker.stop(timeout=30)
        if account is not None:
            with transaction.atomic():
                delete_account_rows(
                    Account.objects.filter(pk=account.pk),
                    "scoring_dirtyaccount",
                    "scoring_metricvalue",
                    "scoring_score",
                    "scoring_scoreevent",
                    "accounts_activity",
                )
                account.delete()
        if card is not None:
            card.delete()
        if metric is not None:
            metric.delete()


bench_scoring_latency.commits = True  # type: ignore[attr-defined]

BENCHMARKS = [bench_scoring, bench_scoring_demo, bench_scoring_engine, bench_scoring_latency]


# --- validation (issue 7): draft preview, backtest, suggested weights --------------------
# Appended as its own section (this file is shared with the scoring engine's benchmarks).

VALIDATION_ACCOUNTS = 10_000
VALIDATION_DAYS = 180
VALIDATION_OUTCOMES = 2_000


def _seed_demo_with_outcomes() -> None:
    from accounts import demo as accounts_demo
    from scoring import demo, demo_outcomes

    today = timezone.localdate()
    accounts_demo.seed(today=today)
    demo.seed(today=today)
    demo_outcomes.seed(today=today)


def _validation_data(n: int, *, outcomes: int, days: int = VALIDATION_DAYS) -> dict[str, Any]:
    """n accounts with ``days`` days of daily values for 2 signal and 2 noise metrics and
    ``outcomes`` outcomes whose churn follows the signal metrics only (the same hidden rule
    as ``scoring.synthetic``, generated server-side on PostgreSQL)."""
    import math
    import random

    from scoring import synthetic
    from scoring.models import Outcome

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
    from scoring import validation

    n = accounts_option(options, [VALIDATION_ACCOUNTS])[-1]
    start = time.perf_counter()
    data = _validation_data(n, outcomes=VALIDATION_OUTCOMES)
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
    from scoring import validation

    _seed_demo_with_outcomes()
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


def _time_preview(card: Scorecard, label: str, accounts: int) -> Iterator[dict[str, Any]]:
    """The editor's preview request: cold (first render) and warm (a weight changed)."""
    import dataclasses

    spec = scorecard_spec(card)
    changed = dataclasses.replace(
        spec,
        measures=(
            dataclasses.replace(spec.measures[0], weight=spec.measures[0].weight * 3),
            *spec.measures[1:],
        ),
    )
    active = active_scorecard_specs().get(card.segment)
    preview.clear_cache()
    for case, s in (("cold", spec), ("weight_changed", changed)):
        with CaptureQueriesContext(connection) as queries:
            start = time.perf_counter()
            version = preview.data_version()
            result = preview.preview_draft(draft=card, spec=s, version=version)
            pair = preview.preview_backtest(draft=card, spec=s, active_spec=active, version=version)
            seconds = time.perf_counter() - start
        yield {
            "bench": "draft_preview",
            "data": label,
            "case": case,
            "accounts": result.accounts,
            "accounts_changing_band": result.moved,
            "outcomes": pair.draft.n_outcomes,
            "seconds": round(seconds, 3),
            "queries": len(queries),
        }


def bench_draft_preview(options: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The live preview of a draft (distribution, band changes, playbook tasks, backtest)
    on the 600-account demo and on 10 000 synthetic accounts."""
    _seed_demo_with_outcomes()
    card = Scorecard.objects.get(segment="", status=Scorecard.Status.ACTIVE)
    yield from _time_preview(card, "demo", 600)
    n = accounts_option(options, [VALIDATION_ACCOUNTS])[-1]
    data = _validation_data(n, outcomes=VALIDATION_OUTCOMES)
    yield from _time_preview(data["true"], "synthetic", n)


BENCHMARKS += [bench_validation, bench_backtest, bench_draft_preview]
