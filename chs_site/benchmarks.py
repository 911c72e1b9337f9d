"""What every benchmark shares: percentiles, cleaning up committed bench rows, and putting
PostgreSQL in the state a quiet evening would leave it. Benchmarks only: nothing the web
or worker processes load imports this (``make lint`` checks it)."""

from __future__ import annotations

import statistics
from typing import Any

from django.db import connection
from django.db.models import Max, Min, QuerySet


def p95(times: list[float]) -> float:
    """The 95th percentile (linear interpolation between the two nearest runs)."""
    if len(times) < 2:
        return times[0]
    return statistics.quantiles(times, n=20, method="inclusive")[18]


def vacuum_tables(*tables: str) -> None:
    """What autovacuum does to a production table after a bulk load (visibility map for
    index-only scans, fresh statistics). Only outside a transaction (else nothing)."""
    if connection.vendor != "postgresql" or not connection.get_autocommit():
        return
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"VACUUM ANALYZE {table}")


def delete_account_rows(accounts: QuerySet[Any], *tables: str) -> bool:
    """Delete these accounts' rows from the given tables (the big ones: by id range, in
    plain SQL, inside the caller's transaction). False when there are no such accounts."""
    bounds = accounts.aggregate(first=Min("id"), last=Max("id"))
    if bounds["first"] is None:
        return False
    ids_sql, ids_params = accounts.order_by().values("id").query.sql_with_params()
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(
                f"DELETE FROM {table} WHERE account_id BETWEEN %s AND %s"
                f" AND account_id IN ({ids_sql})",
                [bounds["first"], bounds["last"], *ids_params],
            )
    return True
