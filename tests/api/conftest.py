from __future__ import annotations

import pytest

from scoring.models import MetricDefinition


@pytest.fixture
def logins(db: None) -> MetricDefinition:
    return MetricDefinition.objects.create(key="logins", name="Logins")


@pytest.fixture
def tickets(db: None) -> MetricDefinition:
    return MetricDefinition.objects.create(key="tickets", name="Open tickets")


@pytest.fixture(autouse=True)
def _fresh_throttle_counts() -> None:
    """SQLite reuses token ids after a rollback, so an in-process cache would carry one
    test's request counts into the next. (Redis-backed runs are on PostgreSQL, whose ids
    are never reused; clearing there would also flush the broker's queues.)"""
    from django.core.cache import caches
    from django.core.cache.backends.locmem import LocMemCache

    if isinstance(caches["default"], LocMemCache):
        caches["default"].clear()
