"""A real Celery worker killed (SIGKILL) while it is sending a delivery: the delivery's
lease runs out, beat's sweep hands it to the restarted worker, and the receiver gets
exactly one more request with the same webhook-id. Nothing is lost, nothing is doubled
beyond the attempt the dead worker was making."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.utils import timezone

from accounts.models import User
from chs_site.celery import app
from chs_site.queues import NOTIFICATIONS, qualified
from outbound.events import NewEvent
from outbound.models import Delivery
from outbound.services import delivery as sender
from tests.conftest import wait_for
from tests.faults import Processes
from tests.outbound.conftest import HANG, OK, Receiver, subscribe

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# The dead worker's claim must run out quickly here; the POST would outlast it.
WORKER_ENV = {"WEBHOOK_TIMEOUT_SECONDS": "30", "WEBHOOK_LEASE_SECONDS": "3"}
SWEEP_TIMEOUT = 60  # beat sends the sender's sweep every 15 s


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(tmp_path)
    yield procs
    procs.stop()


def test_a_worker_killed_mid_send_loses_no_delivery(
    processes: Processes, receiver: Receiver, admin: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver.script = [HANG, OK]
    issued = subscribe(receiver, admin, "task.created")
    monkeypatch.setattr(sender, "nudge_by_name", lambda names: None)  # only the worker sends
    event = NewEvent("evt_killed", "task.created", None, {"n": 1}, timezone.now())
    sender.queue_deliveries(events=[event], endpoint_ids={event.event_id: [issued.endpoint.pk]})

    doomed = processes.worker("doomed", env=WORKER_ENV)
    app.send_task("outbound.send_deliveries", queue=qualified(processes.queue, NOTIFICATIONS))
    assert receiver.arrived.wait(timeout=30), processes.logs()
    doomed.kill()  # SIGKILL while the POST is in flight
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("sending", 1)

    processes.beat()
    processes.worker("restarted", env=WORKER_ENV)
    assert wait_for(lambda: Delivery.objects.get().status == "succeeded", timeout=SWEEP_TIMEOUT), (
        processes.logs()
    )
    delivery.refresh_from_db()
    assert delivery.attempts == 2 and delivery.last_status_code == 200
    assert receiver.ids() == ["evt_killed", "evt_killed"]  # the dead attempt and the retry
