"""Starting syncs: *Sync now* and the schedule (beat runs ``dispatch_due_syncs`` every
minute; it queues a run for each enabled connector whose time has come)."""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from accounts.services.audit import Action, ObjectType, record_audit
from chs_site.celery import send_on_commit
from chs_site.errors import ApplicationError
from connectors.models import Connector, SyncRun
from connectors.services.configuration import check_connector_admin

# A run queued or running for longer than this died with its worker (the task's hard time
# limit is shorter): it no longer blocks a new one.
STALE_AFTER = dt.timedelta(hours=2)


def _queue_run(connector: Connector, *, user: User | None) -> SyncRun:
    from connectors.tasks import run_sync

    now = timezone.now()
    SyncRun.objects.filter(
        connector=connector,
        kind=SyncRun.Kind.SYNC,
        status__in=[SyncRun.Status.QUEUED, SyncRun.Status.RUNNING],
        created_at__lt=now - STALE_AFTER,
    ).update(status=SyncRun.Status.FAILED, finished_at=now, message="Lost with its worker.")
    active = SyncRun.objects.filter(
        connector=connector,
        kind=SyncRun.Kind.SYNC,
        status__in=[SyncRun.Status.QUEUED, SyncRun.Status.RUNNING],
    ).first()
    if active is not None:
        return active
    try:
        with transaction.atomic():
            run = SyncRun.objects.create(connector=connector, requested_by=user)
    except IntegrityError:  # another request queued one a moment ago (syncrun_one_active)
        return SyncRun.objects.get(
            connector=connector,
            kind=SyncRun.Kind.SYNC,
            status__in=[SyncRun.Status.QUEUED, SyncRun.Status.RUNNING],
        )
    send_on_commit(run_sync, run.pk)
    return run


@transaction.atomic
def sync_now(*, actor: User, connector: Connector) -> SyncRun:
    """Queue a sync of ``connector`` now (the running one, if a sync is under way)."""
    check_connector_admin(actor)
    if not connector.credential_encrypted:
        raise ApplicationError("Enter the connector's credential first.")
    run = _queue_run(connector, user=actor)
    record_audit(
        action=Action.RUN,
        object_type=ObjectType.CONNECTOR,
        obj=connector,
        changes={"run": [None, run.pk]},
    )
    return run


@transaction.atomic
def dispatch_due_syncs(*, now: dt.datetime | None = None) -> int:
    """Queue a run for every enabled connector that is due; returns how many. Connectors
    are locked (SKIP LOCKED) so two beats never queue the same one twice."""
    now = now or timezone.now()
    due = list(
        Connector.objects.select_for_update(skip_locked=True)
        .filter(enabled=True, next_run_at__lte=now)
        .order_by("next_run_at")
    )
    for connector in due:
        _queue_run(connector, user=None)
        connector.next_run_at = now + dt.timedelta(minutes=connector.interval_minutes)
        connector.save(update_fields=["next_run_at", "updated_at"])
    return len(due)
