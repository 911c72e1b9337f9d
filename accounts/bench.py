"""Benchmarks of the accounts app: the portfolio page for each role."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import demo
from accounts.models import Account, User


def bench_portfolio_page(options: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Render /portfolio/ (first page and a search) for a CSM, a manager and an admin."""
    demo.seed(today=timezone.localdate())
    total = Account.objects.count()
    for username in ("csm1", "manager1", "admin"):
        user = User.objects.get(username=username)
        client = Client()
        client.force_login(user)
        for label, url in (("first_page", "/portfolio/"), ("search", "/portfolio/?q=a")):
            client.get(url)  # warm caches
            runs = 20
            with CaptureQueriesContext(connection) as queries:
                start = time.perf_counter()
                for _ in range(runs):
                    response = client.get(url)
                elapsed = (time.perf_counter() - start) / runs
            assert response.status_code == 200
            yield {
                "bench": "portfolio_page",
                "role": user.role,
                "case": label,
                "accounts_total": total,
                "ms_per_request": round(elapsed * 1000, 2),
                "queries_per_request": len(queries) // runs,
            }


BENCHMARKS = [bench_portfolio_page]
