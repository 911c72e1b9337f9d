"""Metric definitions and metric values in: the start of the scoring loop.

``record_metric_values`` upserts validated values and marks their accounts dirty in the
same transaction (``scoring.services.dirty``); the recompute follows within seconds."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.db import connection, transaction

from accounts.services.audit import Action, ObjectType, record_audit
from chs_site.errors import Conflict
from chs_site.sql import BULK_BATCH
from scoring.contracts import MetricValueIn
from scoring.models import MetricDefinition, MetricValue
from scoring.services.dirty import mark_accounts_dirty


def record_metric_values(*, values: Sequence[MetricValueIn], source: str = "") -> int:
    """Store ``values`` (already validated by the caller: ids exist, finite numbers, aware
    datetimes) and mark their accounts dirty, in one transaction. Idempotent: the same
    (account, metric, observed_at) again updates the value (within the batch, last wins).
    Returns the number of values stored."""
    latest: dict[tuple[int, int, datetime], float] = {}
    for item in values:
        latest[(item.account_id, item.metric_id, item.observed_at)] = float(item.value)
    if not latest:
        return 0
    with transaction.atomic():
        if connection.vendor == "postgresql":
            _upsert_metric_values_pg(latest)
        else:
            MetricValue.objects.bulk_create(
                [
                    MetricValue(account_id=a, metric_id=m, observed_at=t, value=v)
                    for (a, m, t), v in latest.items()
                ],
                batch_size=BULK_BATCH,
                update_conflicts=True,
                unique_fields=["account", "metric", "observed_at"],
                update_fields=["value"],
            )
        mark_accounts_dirty(
            account_ids={a for a, _, _ in latest}, reason=(source or "metric values")[:32]
        )
    return len(latest)


# One statement per chunk: four typed arrays unnested server-side. Building a model object
# per value (bulk_create) cost ~85% of an ingest request; this keeps 10 000 values well under
# 100 ms. The chunk bounds the statement's parameter size, not its row count.
_UPSERT_CHUNK = 20_000
_UPSERT_SQL = """
    INSERT INTO scoring_metricvalue (account_id, metric_id, observed_at, value)
    SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::timestamptz[], %s::float8[])
    ON CONFLICT (account_id, metric_id, observed_at) DO UPDATE SET value = EXCLUDED.value
"""


def _upsert_metric_values_pg(latest: dict[tuple[int, int, datetime], float]) -> None:
    # In key order: concurrent ingests of overlapping keys then take their row locks in
    # the same order and wait for each other instead of deadlocking (10 parallel requests
    # of the same 1 800 keys shuffled: 5-9 of them failed with DeadlockDetected before).
    items = sorted(latest.items())
    with connection.cursor() as cursor:
        for start in range(0, len(items), _UPSERT_CHUNK):
            chunk = items[start : start + _UPSERT_CHUNK]
            cursor.execute(
                _UPSERT_SQL,
                [
                    [a for (a, _, _), _ in chunk],
                    [m for (_, m, _), _ in chunk],
                    [t for (_, _, t), _ in chunk],
                    [v for _, v in chunk],
                ],
            )


def load_metric_values(rows: Iterable[tuple[int, int, datetime, float]]) -> int:
    """Bulk-load (account_id, metric_id, observed_at, value) rows that are known to be new
    (demo data, benchmarks): COPY on PostgreSQL, executemany elsewhere. Marks nothing dirty
    and fails on a duplicate; ``record_metric_values`` is the path for outside data."""
    count = 0
    columns = "(account_id, metric_id, observed_at, value)"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY scoring_metricvalue {columns} FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in rows:
                    copy.write_row(row)
                    count += 1
            return count
        adapt = connection.ops.adapt_datetimefield_value
        batch: list[tuple[Any, ...]] = []
        sql = f"INSERT INTO scoring_metricvalue {columns} VALUES (%s, %s, %s, %s)"
        for a, m, t, v in rows:
            batch.append((a, m, adapt(t), v))
            if len(batch) >= 10_000:
                cursor.executemany(sql, batch)
                count += len(batch)
                batch = []
        if batch:
            cursor.executemany(sql, batch)
            count += len(batch)
    return count


@transaction.atomic
def create_metric_definition(
    *, key: str, name: str, unit: str = "", description: str = "", direction: str = "higher"
) -> MetricDefinition:
    if MetricDefinition.objects.filter(key=key).exists():
        raise Conflict(
            "A metric with this key already exists.",
            errors=[{"field": "key", "reason": f"{key!r} is already defined"}],
        )
    metric = MetricDefinition.objects.create(
        key=key, name=name, unit=unit, description=description, direction=direction
    )
    record_audit(
        action=Action.CREATED,
        object_type=ObjectType.METRIC,
        obj=metric,
        object_id=metric.key,
        label=metric.name,
        changes={
            f: [None, getattr(metric, f)]
            for f in ("key", "name", "unit", "description", "direction")
        },
    )
    return metric
