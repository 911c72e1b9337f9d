"""Scoring under faults, with real processes on loopback: a private Redis stopped and
started again under ingest (gunicorn + a worker), a worker killed during the nightly
recompute, and concurrent ingests of the same keys. Each test states the time within which
nothing is lost: every accepted value stored, every dirty account rescored."""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from celery import group
from django.db import connection
from django.test import Client
from django.utils import timezone

from accounts.models import Account, User, WorkerHeartbeat
from accounts.services.tokens import create_api_token
from chs_site.celery import app
from chs_site.queues import RECOMPUTE, qualified
from scoring.contracts import MetricValueIn
from scoring.models import (
    DirtyAccount,
    Measure,
    MetricDefinition,
    MetricValue,
    QuarantinedAccount,
    Scorecard,
)
from scoring.services.recompute import account_id_chunks, lease_nightly_chunks
from scoring.services.values import record_metric_values
from scoring.tasks import recompute_chunk
from tests.conftest import database_url_for_current_test_db, wait_for
from tests.factories import AccountFactory
from tests.faults import Processes, RedisServer, wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def usage(db: None) -> MetricDefinition:
    """One measure, latest value 0 → 100: an account's score is its last value."""
    metric = MetricDefinition.objects.create(key="usage", name="Usage")
    card = Scorecard.objects.create(name="Default", status=Scorecard.Status.ACTIVE)
    Measure.objects.create(scorecard=card, metric=metric, weight=1, bad=0, good=100)
    return metric


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


# --- Redis stopped and started again under ingest ----------------------------------------

OUTAGE_SECONDS = 6
RESCORED_WITHIN = 30  # seconds after Redis is back


class Traffic(threading.Thread):
    """Ingests batches through the API (and reads pages) until stopped, recording what
    each request answered and which values were accepted."""

    def __init__(self, web: object, accounts: list[Account], key: str, session: str) -> None:
        super().__init__(daemon=True)
        self.web = web
        self.accounts = accounts
        self.ingest = {"Authorization": f"Token {key}"}
        self.cookie = {"Cookie": f"sessionid={session}"}
        self.stopping = threading.Event()
        self.answers: list[tuple[float, str, int]] = []  # (time, what, status)
        self.accepted: dict[tuple[str, str], float] = {}  # (account, observed_at) → value
        self.last_value: dict[str, float] = {}

    def run(self) -> None:
        rng = random.Random(3)
        step = 0
        while not self.stopping.is_set():
            step += 1
            at = timezone.now() - dt.timedelta(seconds=1)
            batch: list[dict[str, Any]] = [
                {
                    "account": a.external_id,
                    "metric": "usage",
                    "value": rng.randint(0, 100),
                    "observed_at": (at + dt.timedelta(microseconds=i)).isoformat(),
                }
                for i, a in enumerate(self.accounts)
            ]
            status, _ = self.web.request(  # type: ignore[attr-defined]
                "POST", "/api/v1/metrics/", body={"values": batch}, headers=self.ingest
            )
            self.answers.append((time.monotonic(), "ingest", status))
            if status == 202:
                for item in batch:
                    self.accepted[(item["account"], item["observed_at"])] = item["value"]
                    self.last_value[item["account"]] = item["value"]
            if step % 3 == 0:
                for what, path, headers in (
                    ("portfolio", "/portfolio/?sort=-arr&band=red", self.cookie),
                    ("account", self.accounts[0].get_absolute_url(), self.cookie),
                    ("api read", "/api/v1/accounts/", self.cookie),
                ):
                    status, _ = self.web.request("GET", path, headers=headers)  # type: ignore[attr-defined]
                    self.answers.append((time.monotonic(), what, status))
            time.sleep(0.05)


def test_a_redis_outage_under_ingest_loses_nothing_and_stops_nothing(
    tmp_path: Path, redis_server: RedisServer, csm: User, usage: MetricDefinition
) -> None:
    accounts = AccountFactory.create_batch(20, owner=csm)
    key = create_api_token(user=csm, scope="ingest").key
    browser = Client()
    browser.force_login(csm)
    session = browser.cookies["sessionid"].value

    processes = Processes(tmp_path, broker_url=redis_server.url)
    try:
        worker = processes.worker("worker", pool="threads", concurrency=2)
        web = processes.gunicorn()
        traffic = Traffic(web, accounts, key, session)
        traffic.start()
        time.sleep(3)

        redis_server.stop()
        down_at = time.monotonic()
        time.sleep(1)
        status, body = web.request("GET", "/healthz")
        assert status == 503 and b'"broker"' in body, body
        time.sleep(OUTAGE_SECONDS - 1)
        redis_server.start()
        up_at = time.monotonic()
        time.sleep(4)
        traffic.stopping.set()
        traffic.join(timeout=30)

        during = [(what, s) for t, what, s in traffic.answers if down_at <= t <= up_at]
        assert {what for what, _ in during} >= {"ingest", "portfolio", "account", "api read"}
        failed = [(what, s) for _, what, s in traffic.answers if s not in (200, 202)]
        assert failed == [], processes.logs()

        # Every accepted value is stored; every account is rescored from its last value.
        stored = {
            (a.external_id, v.observed_at.isoformat()): v.value
            for a in accounts
            for v in MetricValue.objects.filter(account=a)
        }
        assert len(traffic.accepted) > 0 and stored == traffic.accepted

        def rescored() -> bool:
            scores = dict(
                Account.objects.filter(pk__in=[a.pk for a in accounts]).values_list(
                    "external_id", "computed_score"
                )
            )
            return not DirtyAccount.objects.exists() and scores == traffic.last_value

        assert wait_until(rescored, timeout=RESCORED_WITHIN) is not None, processes.logs()
        assert worker.poll() is None, worker.log_tail()  # the worker lived through it
        assert "Unrecoverable error" not in worker.log_tail(chars=200_000)
    finally:
        processes.stop()


# --- kill -9 of the worker during the nightly recompute ----------------------------------

LEASE_SECONDS = 3
# Beat sends the sweep every 60 s; its first run comes one interval after beat starts.
SWEPT_WITHIN = 90


def test_a_nightly_chunk_killed_with_its_worker_is_swept_after_its_lease(
    tmp_path: Path, csm: User, usage: MetricDefinition, settings: object
) -> None:
    settings.NIGHTLY_LEASE_SECONDS = LEASE_SECONDS  # type: ignore[attr-defined]
    accounts = AccountFactory.create_batch(30, owner=csm)
    now = timezone.now()
    record_metric_values(
        values=[MetricValueIn(a.pk, usage.pk, 40 + i, now) for i, a in enumerate(accounts)]
    )
    DirtyAccount.objects.all().delete()  # scored by the nightly below, nothing else
    poisoned = accounts[25]
    with connection.cursor() as cursor:  # a value no door lets in, in the last chunk
        cursor.execute("ALTER TABLE scoring_metricvalue DROP CONSTRAINT metric_value_within_limit")
        cursor.execute(
            "INSERT INTO scoring_metricvalue (account_id, metric_id, observed_at, value)"
            " VALUES (%s, %s, %s, 1.7e308), (%s, %s, %s, 1.7e308)",
            (poisoned.pk, usage.pk, now - dt.timedelta(hours=1))
            + (poisoned.pk, usage.pk, now - dt.timedelta(hours=2)),
        )
    chunks = account_id_chunks(chunk_size=10)
    assert len(chunks) == 3
    blocker = accounts[15]  # in the second chunk

    processes = Processes(tmp_path)
    try:
        processes.beat()
        with psycopg.connect(database_url_for_current_test_db()) as lock:
            lock.execute(
                "SELECT 1 FROM accounts_account WHERE id = %s FOR NO KEY UPDATE", [blocker.pk]
            )
            # Ready first: a solo worker blocked in a chunk cannot answer the readiness ping.
            doomed = processes.worker("doomed")
            # A starting worker records its heartbeat (/healthz's worker check passes).
            assert wait_for(WorkerHeartbeat.objects.exists, timeout=10), doomed.log_tail()
            # What the nightly task does: lease every account, then send the chunks.
            assert lease_nightly_chunks() == 30
            with app.connection_for_write() as conn:
                group(recompute_chunk.s(a, b) for a, b in chunks).apply_async(
                    connection=conn, queue=qualified(processes.queue, RECOMPUTE)
                )
            first = [a.pk for a in accounts[:10]]
            assert wait_for(
                lambda: not Account.objects.filter(pk__in=first, computed_score=None).exists(),
                timeout=30,
            ), processes.logs()
            assert wait_for(lambda: _waiting_on_a_lock(), timeout=30), processes.logs()
            doomed.kill()  # SIGKILL while its second chunk waits: nothing acknowledged
            lock.rollback()
        killed_at = time.monotonic()
        second = [a.pk for a in accounts[10:20]]
        assert Account.objects.filter(pk__in=second, computed_score=None).count() == 10
        assert DirtyAccount.objects.filter(account_id__in=second).count() == 10

        # A new worker takes the third chunk (still queued); the second chunk's message is
        # held by Redis for the one-hour visibility timeout, so only the sweep can serve it.
        processes.worker("restarted")
        swept = wait_until(
            lambda: (
                not Account.objects.filter(
                    pk__in=[a.pk for a in accounts if a != poisoned], computed_score=None
                ).exists()
            ),
            timeout=SWEPT_WITHIN,
        )
        assert swept is not None, processes.logs()
        assert time.monotonic() - killed_at < SWEPT_WITHIN
        for i, account in enumerate(accounts):
            account.refresh_from_db()
            if account != poisoned:
                assert account.computed_score == 40 + i
        assert list(QuarantinedAccount.objects.values_list("account_id", flat=True)) == [
            poisoned.pk
        ]
        assert not DirtyAccount.objects.exists()
    finally:
        processes.stop()
        with connection.cursor() as cursor:  # DDL outlives this test's flush: put it back
            cursor.execute(
                "ALTER TABLE scoring_metricvalue ADD CONSTRAINT metric_value_within_limit"
                " CHECK (value >= -1e15 AND value <= 1e15) NOT VALID"
            )


def _waiting_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND query ILIKE %s AND datname = current_database()",
            ["%accounts_account%"],
        )
        return bool(cursor.fetchone()[0])


# --- concurrent ingests of overlapping keys -------------------------------------------------


@pytest.mark.postgres
def test_concurrent_ingests_of_the_same_keys_in_any_order_all_succeed(
    csm: User, usage: MetricDefinition
) -> None:
    accounts = AccountFactory.create_batch(60, owner=csm)
    tickets = MetricDefinition.objects.create(key="tickets", name="Tickets")
    at = timezone.now() - dt.timedelta(hours=1)
    keys = [
        (a.pk, m.pk, at - dt.timedelta(days=d))
        for a in accounts
        for m in (usage, tickets)
        for d in range(15)
    ]
    assert len(keys) == 1800
    errors: list[BaseException] = []
    start = threading.Barrier(10)

    def ingest(seed: int) -> None:
        order = keys[:]
        random.Random(seed).shuffle(order)
        try:
            start.wait()
            record_metric_values(values=[MetricValueIn(a, m, float(seed), t) for a, m, t in order])
        except BaseException as exc:  # noqa: BLE001 — the assertion below shows it
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=ingest, args=(seed,)) for seed in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert MetricValue.objects.count() == 1800
    assert MetricValue.objects.values("value").distinct().count() == 1  # one request won
