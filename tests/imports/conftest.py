from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.files.base import ContentFile

from accounts.imports.jobs import create_import_job
from accounts.models import ImportJob, User
from scoring.models import MetricDefinition


@pytest.fixture(autouse=True)
def _media_in_tmp(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[None]:
    """Uploaded files go to a temporary MEDIA_ROOT, except where a separate worker process
    must read them (it knows only the configured one)."""
    if request.node.get_closest_marker("worker") is not None:
        yield
        return
    settings = request.getfixturevalue("settings")
    settings.MEDIA_ROOT = tmp_path / "media"
    yield


@pytest.fixture
def logins(db: None) -> MetricDefinition:
    return MetricDefinition.objects.create(key="logins", name="Logins")


@pytest.fixture
def tickets(db: None) -> MetricDefinition:
    return MetricDefinition.objects.create(key="tickets", name="Open tickets")


def upload(user: User | None, kind: str, text: str, name: str = "data.csv") -> ImportJob:
    return create_import_job(user=user, kind=kind, upload=ContentFile(text.encode(), name=name))
