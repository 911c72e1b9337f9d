from __future__ import annotations

from connectors.models import Connector, SyncRun
from connectors.runner import execute_sync


def sync(connector: Connector) -> SyncRun:
    """Queue a run of ``connector`` and execute it here (as the worker's task does)."""
    run = SyncRun.objects.create(connector=connector)
    execute_sync(run_id=run.pk)
    run.refresh_from_db()
    connector.refresh_from_db()
    return run
