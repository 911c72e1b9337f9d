"""The whole loop through the real components: PostgreSQL, Redis and a Celery worker process.

Values ingested through the API push an account into red; the worker recomputes its score and,
in the same flow, the playbook creates exactly one task for its owner within seconds."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.conf import settings
from django.utils import timezone

from accounts.models import Account, User
from chs_site.benchmarks import CeleryProcess
from chs_site.celery import app
from playbooks.models import PlaybookRun, Task
from scoring.models import DirtyAccount, Measure, MetricDefinition, Scorecard, ScoreEvent
from tests.api.helpers import api_for
from tests.conftest import wait_for
from tests.factories import PlaybookFactory

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_values_ingested_through_the_api_push_an_account_into_red_and_one_task_appears(
    celery_worker_process: CeleryProcess, csm: User, account: Account
) -> None:
    usage = MetricDefinition.objects.create(key="usage", name="Usage")
    card = Scorecard.objects.create(name="Default", status="active")
    Measure.objects.create(scorecard=card, metric=usage, weight=1, bad=0, good=100)
    playbook = PlaybookFactory.create(name="Fell into red → call within 2 days")
    client = api_for(csm, "ingest")
    now = timezone.now()

    response = client.post(
        "/api/v1/metrics/",
        {
            "values": [
                {
                    "account": "ACME-1",
                    "metric": "usage",
                    "value": 80,
                    "observed_at": (now - dt.timedelta(hours=2)).isoformat(),
                }
            ]
        },
    )
    assert response.status_code == 202, response.content
    assert wait_for(lambda: Account.objects.get(pk=account.pk).health_band == "green", timeout=20)
    assert not Task.objects.exists()

    started = timezone.now()
    response = client.post(
        "/api/v1/metrics/",
        {
            "values": [
                {
                    "account": "ACME-1",
                    "metric": "usage",
                    "value": 12,
                    "observed_at": now.isoformat(),
                }
            ]
        },
    )
    assert response.status_code == 202, response.content
    assert wait_for(lambda: Task.objects.filter(playbook=playbook).exists(), timeout=20)
    task = Task.objects.get(playbook=playbook)
    assert task.assignee == csm and task.account == account and task.status == "open"
    assert (task.created_at - started).total_seconds() < 10
    run = PlaybookRun.objects.get(playbook=playbook)
    assert run.values["previous_band"] == "green" and run.values["band"] == "red"

    # The same values again: the score does not change, and no second task appears.
    client.post(
        "/api/v1/metrics/",
        {
            "values": [
                {
                    "account": "ACME-1",
                    "metric": "usage",
                    "value": 12,
                    "observed_at": now.isoformat(),
                }
            ]
        },
    )
    assert wait_for(lambda: not DirtyAccount.objects.exists(), timeout=20)
    time.sleep(2)  # give a (wrong) second firing the time to show up
    assert Task.objects.filter(playbook=playbook).count() == 1


def test_a_score_event_processed_twice_on_the_worker_creates_one_task(
    celery_worker_process: CeleryProcess, csm: User, account: Account
) -> None:
    playbook = PlaybookFactory.create()
    event = ScoreEvent.objects.create(
        kind=ScoreEvent.Kind.SCORE,
        account=account,
        previous_score=45,
        previous_band="yellow",
        score=25,
        band="red",
        created_at=timezone.now(),
    )
    # Twice, as a redelivered message (or beat's sweep beside a nudge) would: still one task.
    app.send_task("playbooks.process_score_events")
    app.send_task("playbooks.process_score_events")
    assert wait_for(lambda: Task.objects.filter(playbook=playbook).exists(), timeout=20)
    playbooks_bit = settings.SCORE_EVENT_CONSUMERS["playbooks"]["bit"]
    # Seen by the playbooks (the other consumers' bits wait for their own tasks).
    assert wait_for(lambda: not ScoreEvent.objects.get(pk=event.pk).pending & playbooks_bit)
    time.sleep(1.5)
    assert Task.objects.filter(playbook=playbook, account=account, assignee=csm).count() == 1
