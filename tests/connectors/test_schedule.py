"""The schedule: beat's dispatcher queues a run for each enabled connector that is due,
once; and a sync run end to end through a real Celery worker."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from accounts.models import Account, User
from chs_site.benchmarks import CeleryProcess
from connectors.models import Connector, SyncRun
from connectors.services.syncs import dispatch_due_syncs, sync_now
from tests.conftest import wait_for
from tests.connectors.conftest import HUBSPOT_TOKEN, make_connector
from tests.connectors.fakes import HubSpotFake


@pytest.mark.django_db
def test_dispatcher_queues_due_enabled_connectors_once(
    admin: User, hubspot_fake: HubSpotFake
) -> None:
    now = timezone.now()
    due = make_connector(admin, "hubspot", hubspot_fake.url, HUBSPOT_TOKEN)
    not_due = Connector.objects.create(
        kind="stripe", name="later", enabled=True, next_run_at=now + dt.timedelta(minutes=5)
    )
    disabled = Connector.objects.create(
        kind="stripe", name="off", enabled=False, next_run_at=now - dt.timedelta(hours=1)
    )
    # A run is queued on commit; keep it queued here (no worker) to see that the dispatcher
    # does not queue a second one while the first waits.
    assert dispatch_due_syncs(now=now + dt.timedelta(seconds=1)) == 1
    due.refresh_from_db()
    assert due.next_run_at == now + dt.timedelta(seconds=1, minutes=60)
    assert SyncRun.objects.filter(connector=due).count() == 1
    assert not SyncRun.objects.filter(connector__in=[not_due, disabled]).exists()
    assert dispatch_due_syncs(now=now + dt.timedelta(seconds=2)) == 0
    # An hour later both enabled connectors are due; the first still has its queued run.
    assert dispatch_due_syncs(now=now + dt.timedelta(minutes=61, seconds=2)) == 2
    assert SyncRun.objects.filter(connector=due).count() == 1
    assert SyncRun.objects.filter(connector=not_due).count() == 1
    assert not SyncRun.objects.filter(connector=disabled).exists()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_sync_now_runs_in_a_real_worker(
    celery_worker_process: CeleryProcess, admin: User, hubspot_fake: HubSpotFake
) -> None:
    for i in range(120):
        hubspot_fake.add_company(
            str(5000 + i), timezone.now() - dt.timedelta(minutes=200 - i), name=f"Company {i}"
        )
    connector = make_connector(admin, "hubspot", hubspot_fake.url, HUBSPOT_TOKEN)
    run = sync_now(actor=admin, connector=connector)
    assert wait_for(lambda: SyncRun.objects.get(pk=run.pk).is_finished, timeout=60)
    run.refresh_from_db()
    assert (run.status, run.created, run.seen, run.expected) == ("succeeded", 120, 120, 120)
    assert Account.objects.filter(external_id__startswith="hubspot-").count() == 120
    assert len(hubspot_fake.calls("/crm/v3/objects/companies/search")) == 2  # two pages
