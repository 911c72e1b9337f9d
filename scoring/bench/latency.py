"""``scoring_latency``: one account's values ingested → its new stored score, through Redis
and a real Celery worker this benchmark starts (p50/p95 over 50 rounds). It commits, so it
creates its own rows and deletes them afterwards."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Account
from chs_site.benchmarks import delete_account_rows, p95, sending_to, start_celery_worker
from scoring import engine
from scoring.contracts import MetricValueIn
from scoring.models import Measure, MetricDefinition, Scorecard
from scoring.services.dirty import COALESCE_SECONDS
from scoring.services.values import record_metric_values

ROUNDS = 50
LATENCY_SEGMENT = "BenchLatency"


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
            for i in range(ROUNDS):
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

BENCHMARKS = [bench_scoring_latency]
