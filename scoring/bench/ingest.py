"""``ingest``: metric values through the real API stack against a plain DRF baseline, and a
200 000-row CSV import of metric values with its peak memory (scoring's ingest paths)."""

from __future__ import annotations

import csv
import datetime as dt
import json
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.core.files import File
from django.test import Client
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from accounts.imports import jobs as importing
from accounts.models import Account, Role, User, owner_sort_name
from accounts.services.tokens import create_api_token
from chs_site.benchmarks import peak_rss_mb
from scoring.models import MetricDefinition, MetricValue


def _ingest_fixture(accounts: int) -> tuple[User, list[str], list[str]]:
    admin = User.objects.create(username="bench-ingest", role=Role.ADMIN, is_superuser=True)
    ids = [f"BENCH-{i:06d}" for i in range(accounts)]
    Account.objects.bulk_create(
        [
            Account(
                external_id=e,
                name=f"Bench {e}",
                owner=admin,
                owner_sort_name=owner_sort_name(admin),
            )
            for e in ids
        ],
        batch_size=2000,
    )
    keys = [f"bench_metric_{i}" for i in range(5)]
    MetricDefinition.objects.bulk_create([MetricDefinition(key=k, name=k) for k in keys])
    return admin, ids, keys


def _values(ids: list[str], keys: list[str], n: int, offset: int) -> list[dict[str, Any]]:
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    out = []
    for i in range(offset, offset + n):
        out.append(
            {
                "account": ids[i % len(ids)],
                "metric": keys[(i // len(ids)) % len(keys)],
                "value": float(i % 997),
                "observed_at": (
                    start + dt.timedelta(minutes=i // (len(ids) * len(keys)))
                ).isoformat(),
            }
        )
    return out


def _baseline_view() -> Any:
    """What a plain DRF endpoint would do: a ModelSerializer(many=True) that validates item
    by item (two lookups and a uniqueness query per item) and saves row by row."""

    class BaselineItem(serializers.ModelSerializer):
        account = serializers.SlugRelatedField(
            slug_field="external_id", queryset=Account.objects.all()
        )
        metric = serializers.SlugRelatedField(
            slug_field="key", queryset=MetricDefinition.objects.all()
        )

        class Meta:
            model = MetricValue
            fields = ["account", "metric", "value", "observed_at"]

    class BaselineView(APIView):
        def post(self, request: Any) -> Response:
            serializer = BaselineItem(data=request.data["values"], many=True)
            serializer.is_valid(raise_exception=True)
            serializer.save()
            return Response({"accepted": len(serializer.validated_data)}, status=202)

    return BaselineView.as_view()


def bench_ingest(options: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Metric values through the real API stack (token auth, JSON parsing, whole-request
    validation, upsert) against a plain ModelSerializer baseline, and a 200 000-row CSV
    import with its peak memory. The recompute that follows on commit is not included:
    the benchmark's transaction is rolled back."""
    scale = float(options.get("scale") or 1.0)
    admin, ids, keys = _ingest_fixture(max(int(1000 * scale), 10))
    key = create_api_token(user=admin, scope="write").key
    headers = {"Authorization": f"Token {key}"}
    client = Client()

    offset = 0
    for size, requests in ((5_000, max(int(8 * scale), 2)), (10_000, max(int(3 * scale), 1))):
        bodies = []
        for _ in range(requests):
            bodies.append(json.dumps({"values": _values(ids, keys, size, offset)}))
            offset += size
        client.post(
            "/api/v1/metrics/",
            json.dumps({"values": _values(ids, keys, 10, 10**7)}),
            content_type="application/json",
            headers=headers,
        )
        before = MetricValue.objects.count()
        start = time.perf_counter()
        for body in bodies:
            response = client.post(
                "/api/v1/metrics/", body, content_type="application/json", headers=headers
            )
            assert response.status_code == 202, response.content[:300]
        elapsed = time.perf_counter() - start
        stored = MetricValue.objects.count() - before
        assert stored == size * requests
        yield {
            "bench": "ingest_api",
            "items_per_request": size,
            "requests": requests,
            "values_stored": stored,
            "ms_per_request": round(elapsed / requests * 1000, 1),
            "values_per_s": round(stored / elapsed),
        }
        api_rate = stored / elapsed

    baseline_size = 5_000
    baseline_body = {"values": _values(ids, keys, baseline_size, offset)}
    request = APIRequestFactory().post(
        "/bench/baseline/", baseline_body, format="json", HTTP_AUTHORIZATION=f"Token {key}"
    )
    view = _baseline_view()
    before = MetricValue.objects.count()
    start = time.perf_counter()
    response = view(request)
    elapsed = time.perf_counter() - start
    assert response.status_code == 202, getattr(response, "data", None)
    stored = MetricValue.objects.count() - before
    baseline_rate = stored / elapsed
    yield {
        "bench": "ingest_baseline_modelserializer",
        "items_per_request": baseline_size,
        "values_stored": stored,
        "ms_per_request": round(elapsed * 1000, 1),
        "values_per_s": round(baseline_rate),
        "api_speedup_x": round(api_rate / baseline_rate, 1),
    }

    yield from _bench_csv_import(admin, ids, keys, rows=int(200_000 * scale))


def _bench_csv_import(
    admin: User, ids: list[str], keys: list[str], *, rows: int
) -> Iterator[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.csv"
        with path.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["account", "metric", "value", "observed_at"])
            for item in _values(ids, keys, rows, 2 * 10**7):
                writer.writerow(
                    [item["account"], item["metric"], item["value"], item["observed_at"]]
                )
        size_mb = path.stat().st_size / 1e6

        def run_once() -> tuple[float, Any]:
            with path.open("rb") as fh:
                job = importing.create_import_job(
                    user=admin, kind="metrics_long", upload=File(fh, name="bench.csv")
                )
            importing.mark_queued(job=job, user=admin)
            start = time.perf_counter()
            finished = importing.run_import(job_id=job.pk)
            elapsed = time.perf_counter() - start
            assert finished is not None and finished.status == "succeeded", (
                finished and finished.message
            )
            job.file.delete(save=False)
            return elapsed, finished

        rss_before = peak_rss_mb()
        elapsed, job = run_once()
        rss_after = peak_rss_mb()
        # Again, traced (slower), for the peak of Python allocations during one import.
        tracemalloc.start()
        run_once()
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        yield {
            "bench": "ingest_csv_import",
            "rows": job.rows_written,
            "file_mb": round(size_mb, 1),
            "seconds": round(elapsed, 2),
            "rows_per_s": round(job.rows_written / elapsed),
            "peak_rss_mb_process": rss_after,
            "peak_rss_mb_before_import": rss_before,
            "tracemalloc_peak_mb": round(traced_peak / 1e6, 1),
        }


BENCHMARKS = [bench_ingest]
