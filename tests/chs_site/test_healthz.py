from __future__ import annotations

import datetime as dt
from unittest import mock

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import Account, WorkerHeartbeat
from accounts.services.heartbeat import record_worker_heartbeat
from chs_site.queues import QUEUES
from scoring.models import QuarantinedAccount

pytestmark = pytest.mark.django_db


@pytest.fixture
def worker_alive(db: None) -> None:
    """Workers recorded beat's heartbeat on every queue a moment ago (with a broker,
    /healthz checks it)."""
    for queue in QUEUES:
        record_worker_heartbeat(queue=queue, hostname="w1")


def test_healthz_is_ok_when_database_and_broker_answer(client: Client, worker_alive: None) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["broker"]["status"] == "ok"


def test_healthz_names_a_failing_database(client: Client) -> None:
    with mock.patch("chs_site.views.connection.cursor", side_effect=RuntimeError("db down")):
        response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["database"]
    assert "db down" in body["checks"]["database"]["error"]


def test_healthz_names_an_unreachable_broker(
    client: Client, settings: object, worker_alive: None
) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = False  # type: ignore[attr-defined]
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # type: ignore[attr-defined]  # nothing listens on port 1
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["broker"]


@pytest.mark.redis
def test_healthz_reaches_the_real_broker(
    client: Client, settings: object, worker_alive: None
) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = False  # type: ignore[attr-defined]
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["checks"]["broker"]["mode"] == "workers"


def test_healthz_fails_when_no_worker_has_beaten_recently(client: Client, settings: object) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = False  # type: ignore[attr-defined]
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # type: ignore[attr-defined]
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["worker"]["error"] == "; ".join(
        f"no worker has recorded a heartbeat on {queue} yet" for queue in QUEUES
    )

    for queue in QUEUES:
        WorkerHeartbeat.objects.create(
            hostname=f"{queue}@w1", seen_at=timezone.now() - dt.timedelta(minutes=4)
        )
    worker = client.get("/healthz").json()["checks"]["worker"]
    assert worker["status"] == "error"
    assert worker["error"].startswith("no worker heartbeat on recompute for 24")
    assert "limit is 180 s" in worker["error"]

    for queue in QUEUES:
        WorkerHeartbeat.objects.create(
            hostname=f"{queue}@w2", seen_at=timezone.now() - dt.timedelta(seconds=30)
        )
    worker = client.get("/healthz").json()["checks"]["worker"]
    assert worker["status"] == "ok"
    assert all(29 <= worker["queues"][queue]["age_seconds"] <= 40 for queue in QUEUES)


def test_healthz_names_the_one_queue_without_a_live_worker(
    client: Client, settings: object
) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = False  # type: ignore[attr-defined]
    for queue in QUEUES:
        if queue != "imports":
            record_worker_heartbeat(queue=queue, hostname="w1")
    WorkerHeartbeat.objects.create(
        hostname="imports@w1", seen_at=timezone.now() - dt.timedelta(minutes=10)
    )
    response = client.get("/healthz")
    assert response.status_code == 503
    worker = response.json()["checks"]["worker"]
    assert worker["error"].startswith("no worker heartbeat on imports for 6")
    assert worker["queues"]["recompute"]["age_seconds"] <= 5


def test_healthz_reports_quarantined_accounts_without_failing(
    client: Client, account: Account, worker_alive: None
) -> None:
    QuarantinedAccount.objects.create(
        account=account, reason="DataError: x", quarantined_at=timezone.now()
    )
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["scoring"] == {"status": "degraded", "quarantined_accounts": 1}


def test_unknown_api_path_is_json_404(client: Client) -> None:
    response = client.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
