"""The nightly full recompute (``python manage.py bench <name> [--accounts N[,N…]]``).

* ``scoring``: N accounts × 8 measures × 30 days of daily values (generated server-side in
  one INSERT … SELECT on PostgreSQL), the product's full recompute timed, and a
  straightforward per-account ORM loop timed on a sample and extrapolated; both must give
  identical scores. One line per N (default 10 000): accounts, seconds, accounts/second,
  ratio to the naive loop, queries per batch, peak RSS.
* ``scoring_demo``: the full recompute of the 600-account demo.
* ``scoring_engine``: the pure engine alone (scores/second).
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
from celery import group
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Account, User, owner_sort_name
from chs_site.benchmarks import (
    accounts_option,
    children_peak_rss_mb,
    delete_account_rows,
    peak_rss_mb,
    sending_to,
    settle,
    start_celery_worker,
)
from chs_site.celery import app as celery_app
from scoring import engine, tasks
from scoring.models import Measure, MetricDefinition, MetricValue, Score, Scorecard
from scoring.selectors.scorecards import scorecard_spec
from scoring.services.recompute import NIGHTLY_CHUNK, recompute_scores
from scoring.services.values import load_metric_values

BENCH_METRICS = 8
BENCH_DAYS = 30
NAIVE_SAMPLE = 200
BENCH_SEGMENT = "Bench"
BENCH_METRIC_PREFIX = "bench_m"


def _bench_scorecard() -> tuple[Scorecard, list[MetricDefinition]]:
    """A segment scorecard of its own (the company's default scorecard is left alone)."""
    metrics = []
    for i in range(BENCH_METRICS):
        metric, _ = MetricDefinition.objects.get_or_create(
            key=f"{BENCH_METRIC_PREFIX}{i}", defaults={"name": f"Bench metric {i}"}
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


# What a recompute writes per account (history, the score event, the band-change activity):
# each round starts without them. The final cleanup also takes the values and dirty markers.
SCORE_TABLES = ("scoring_score", "scoring_scoreevent", "accounts_activity")
DATA_TABLES = ("scoring_metricvalue", *SCORE_TABLES, "scoring_dirtyaccount")


def _delete_bench_rows(*tables: str) -> bool:
    """Delete the bench accounts' rows from these tables (inside the caller's transaction).
    False when there are no bench accounts."""
    return delete_account_rows(Account.objects.filter(segment=BENCH_SEGMENT), *tables)


def _delete_bench_data() -> None:
    """Remove every bench account and what hangs off it (also a crashed run's leftovers).
    The big tables first; Django's collector does the rest."""
    with transaction.atomic():
        if _delete_bench_rows(*DATA_TABLES):
            Account.objects.filter(segment=BENCH_SEGMENT).delete()
    Scorecard.objects.filter(segment=BENCH_SEGMENT).delete()
    # Its metric definitions would otherwise stay in every editor's metric list.
    MetricDefinition.objects.filter(
        key__in=[f"{BENCH_METRIC_PREFIX}{i}" for i in range(BENCH_METRICS)]
    ).exclude(Exists(MetricValue.objects.filter(metric=OuterRef("pk")))).exclude(
        measures__isnull=False
    ).delete()


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
        _delete_bench_rows(*SCORE_TABLES)
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
    tables = ("scoring_metricvalue", "accounts_account", *SCORE_TABLES)
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


BENCHMARKS = [bench_scoring, bench_scoring_demo, bench_scoring_engine]
