"""Reading connectors for the Connectors page (admins only: the views check the role)."""

from __future__ import annotations

from django.db.models import F, Window
from django.db.models.functions import RowNumber

from connectors.models import Connector, SyncRun

RUNS_SHOWN = 5


def connectors_with_runs() -> list[Connector]:
    """Every connector with its last ``RUNS_SHOWN`` runs as ``recent_runs`` (two queries,
    however long the run history)."""
    connectors = list(Connector.objects.order_by("name"))
    runs: dict[int, list[SyncRun]] = {c.pk: [] for c in connectors}
    recent = (
        SyncRun.objects.annotate(
            position=Window(
                RowNumber(),
                partition_by=[F("connector_id")],
                order_by=[F("created_at").desc(), F("id").desc()],
            )
        )
        .filter(position__lte=RUNS_SHOWN)
        .order_by("connector_id", "position")
    )
    for run in recent:
        runs[run.connector_id].append(run)
    for connector in connectors:
        connector.recent_runs = runs[connector.pk]  # type: ignore[attr-defined]
    return connectors


def run_of(*, connector: Connector, run_pk: int) -> SyncRun | None:
    return SyncRun.objects.filter(pk=run_pk, connector=connector).first()
