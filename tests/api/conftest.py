from __future__ import annotations

import pytest

from scoring.models import MetricDefinition


@pytest.fixture
def logins(db: None) -> MetricDefinition:
    return MetricDefinition.objects.create(key="logins", name="Logins")


@pytest.fixture
def tickets(db: None) -> MetricDefinition:
    return MetricDefinition.objects.create(key="tickets", name="Open tickets")
