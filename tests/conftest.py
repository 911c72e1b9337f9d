"""Shared fixtures: the five personas, service requirements, a real Celery worker.

Personas (STYLE.md): ``csm`` owns ``account``; ``teammate`` is another CSM in the same
team; ``other_csm`` works in another team; ``manager`` manages csm's team; ``admin``.

Tests that need PostgreSQL, Redis, a worker or a browser are marked; without the service
they are skipped, and with ``CHS_REQUIRE_SERVICES=1`` (CI) they fail instead.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.db import connection
from django.test import Client

from accounts.models import Account, Role, Team, User
from chs_site.benchmarks import CeleryProcess, start_celery_worker
from chs_site.celery import app as celery_app
from scoring.contracts import MetricValueIn
from scoring.models import Measure, MetricDefinition, Scorecard
from scoring.selectors.preview import clear_cache as clear_preview_cache
from scoring.services.values import record_metric_values
from tests.factories import AccountFactory, TeamFactory, UserFactory

REQUIRE_SERVICES = os.environ.get("CHS_REQUIRE_SERVICES") == "1"
ROOT = Path(__file__).resolve().parent.parent


def require(condition: bool, reason: str) -> None:
    """Skip (locally) or fail (CI) a test whose service is missing."""
    if condition:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"CHS_REQUIRE_SERVICES=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def _redis_available() -> bool:
    url = settings.CELERY_BROKER_URL
    if not url.startswith("redis://"):
        return False
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def chromium_path() -> str | None:
    return (
        os.environ.get("CHS_BROWSER")
        or shutil.which("chromium")
        or shutil.which("chromium-browser")
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    markers = {m.name for m in item.iter_markers()}
    if "postgres" in markers or "worker" in markers:
        require(
            settings.IS_POSTGRES,
            "this test needs PostgreSQL (set DATABASE_URL=postgresql://…)",
        )
    if "redis" in markers or "worker" in markers:
        require(_redis_available(), "this test needs Redis (set CELERY_BROKER_URL=redis://…)")
    if "browser" in markers:
        require(chromium_path() is not None, "this test needs Chromium (apt-get install chromium)")


@pytest.fixture(autouse=True)
def _eager_celery(request: pytest.FixtureRequest) -> Iterator[None]:
    """Tasks run in-process unless the test talks to a real worker."""
    eager = request.node.get_closest_marker("worker") is None
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = eager
    yield
    celery_app.conf.task_always_eager = previous
    if "celery_worker_process" in request.fixturenames:
        _let_the_worker_settle()


def _let_the_worker_settle(timeout: float = 10.0) -> None:
    """Before a worker test's tables are emptied: wait until the shared worker has served
    what the test left in the outboxes (the score-event and general outboxes' consumers run
    after the test's own assertions), so the flush never meets a worker mid-transaction."""
    from accounts.models import OutboxEvent
    from scoring.models import DirtyAccount, ScoreEvent

    def quiet() -> bool:
        return not (
            DirtyAccount.objects.exists()
            or ScoreEvent.objects.filter(processed_at__isnull=True).exists()
            or OutboxEvent.objects.filter(processed_at__isnull=True).exists()
        )

    wait_for(quiet, timeout=timeout)
    time.sleep(0.3)  # the last consumer's transaction commits, then its task returns


@pytest.fixture(autouse=True)
def _fresh_in_process_caches() -> Iterator[None]:
    """What one test leaves in a per-process cache must not reach the next: the scorecard
    preview's results, and the local-memory cache's per-user segment counts, team history and
    API throttle counts (SQLite reuses ids after a rollback, so another test's user or token
    would find them). The Redis cache of a PostgreSQL run is left alone: PostgreSQL never
    reuses an id, its keys carry this run's prefix, and clearing it would flush the broker's
    queues under a running worker."""
    clear_preview_cache()
    if isinstance(caches["default"], LocMemCache):
        caches["default"].clear()
    yield
    clear_preview_cache()


# --- personas --------------------------------------------------------------------------


@pytest.fixture
def team(db: None) -> Team:
    return TeamFactory.create(name="Atlas")


@pytest.fixture
def manager(team: Team) -> User:
    user = UserFactory.create(username="manager", role=Role.MANAGER)
    team.manager = user
    team.save(update_fields=["manager"])
    return user


@pytest.fixture
def csm(team: Team, manager: User) -> User:
    return UserFactory.create(username="csm", role=Role.CSM, team=team)


@pytest.fixture
def teammate(team: Team, manager: User) -> User:
    return UserFactory.create(username="teammate", role=Role.CSM, team=team)


@pytest.fixture
def other_team(db: None) -> Team:
    boss = UserFactory.create(username="other_manager", role=Role.MANAGER)
    return TeamFactory.create(name="Beacon", manager=boss)


@pytest.fixture
def other_csm(other_team: Team) -> User:
    return UserFactory.create(username="other_csm", role=Role.CSM, team=other_team)


@pytest.fixture
def admin(db: None) -> User:
    return UserFactory.create(username="admin", role=Role.ADMIN, is_staff=True, is_superuser=True)


@pytest.fixture
def account(csm: User) -> Account:
    return AccountFactory.create(owner=csm, name="Acme Corp", external_id="ACME-1")


@pytest.fixture
def teammate_account(teammate: User) -> Account:
    return AccountFactory.create(owner=teammate, name="Teammate Ltd", external_id="TEAM-1")


@pytest.fixture
def other_account(other_csm: User) -> Account:
    return AccountFactory.create(owner=other_csm, name="Other Inc", external_id="OTHER-1")


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def csm_client(csm: User) -> Client:
    return client_for(csm)


@pytest.fixture
def manager_client(manager: User) -> Client:
    return client_for(manager)


@pytest.fixture
def admin_client(admin: User) -> Client:  # overrides pytest-django's admin_client
    return client_for(admin)


@pytest.fixture
def other_csm_client(other_csm: User) -> Client:
    return client_for(other_csm)


# --- two plain metrics, and uploads ------------------------------------------------------


@pytest.fixture
def logins(db: None) -> MetricDefinition:
    return MetricDefinition.objects.create(key="logins", name="Logins")


@pytest.fixture
def tickets(db: None) -> MetricDefinition:
    return MetricDefinition.objects.create(key="tickets", name="Open tickets")


@pytest.fixture
def media_in_tmp(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[None]:
    """Uploaded files go to a temporary MEDIA_ROOT, except where a separate worker process
    must read them (it knows only the configured one)."""
    if request.node.get_closest_marker("worker") is not None:
        yield
        return
    request.getfixturevalue("settings").MEDIA_ROOT = tmp_path / "media"
    yield


# --- the workspace's published scorecard (accounts' pages and the browser use it) -------


@pytest.fixture
def scorecard(db: None) -> Scorecard:
    """The active default scorecard: NPS (weight 2), CSAT and average weekly logins;
    red below 40, green at 70."""
    nps, _ = MetricDefinition.objects.get_or_create(
        key="nps", defaults={"name": "NPS", "unit": "0–10"}
    )
    csat, _ = MetricDefinition.objects.get_or_create(
        key="csat", defaults={"name": "CSAT", "unit": "1–5"}
    )
    logins, _ = MetricDefinition.objects.get_or_create(
        key="logins", defaults={"name": "Weekly logins", "unit": "logins"}
    )
    card = Scorecard.objects.create(
        name="Default", segment="", status=Scorecard.Status.ACTIVE, red_below=40, green_at=70
    )
    Measure.objects.create(
        scorecard=card, metric=nps, weight=2, aggregation="latest", window_days=90, bad=0, good=10
    )
    Measure.objects.create(
        scorecard=card, metric=csat, weight=1, aggregation="latest", window_days=90, bad=1, good=5
    )
    Measure.objects.create(
        scorecard=card,
        metric=logins,
        weight=1,
        aggregation="avg",
        window_days=30,
        bad=0,
        good=50,
        position=2,
    )
    return card


def record(account: Account, metric: str, value: float, at: dt.datetime) -> None:
    """Record one value of ``metric`` for ``account`` through the scoring service."""
    metric_id = MetricDefinition.objects.get(key=metric).pk
    record_metric_values(
        values=[
            MetricValueIn(account_id=account.pk, metric_id=metric_id, value=value, observed_at=at)
        ]
    )


# --- a real Celery worker ---------------------------------------------------------------


def database_url_for_current_test_db() -> str:
    params = connection.settings_dict
    user = params.get("USER") or "postgres"
    password = f":{params['PASSWORD']}" if params.get("PASSWORD") else ""
    host = params.get("HOST") or "127.0.0.1"
    port = params.get("PORT") or "5432"
    return f"postgresql://{user}{password}@{host}:{port}/{params['NAME']}"


@pytest.fixture(scope="session")
def celery_worker_process(
    django_db_setup: None, django_db_blocker: object
) -> Iterator[CeleryProcess]:
    """A real ``celery worker`` process, consuming this run's private queue from Redis and
    writing to the test database. Tests using it need ``transaction=True`` so the worker
    sees their committed rows."""
    require(settings.IS_POSTGRES, "a real worker needs PostgreSQL")
    require(_redis_available(), "a real worker needs Redis")
    worker = start_celery_worker(
        queue=settings.CELERY_QUEUE_NAMESPACE,
        node=f"test-{os.getpid()}@localhost",
        pool="threads",
        concurrency=4,
        env={
            "DATABASE_URL": database_url_for_current_test_db(),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "CHS_TESTING": "1",
            # Small survey batches, so a test's handful of recipients takes several.
            "SURVEY_BATCH_SIZE": "2",
        },
        log_path=ROOT / "var" / f"test-worker-{os.getpid()}.log",
    )
    try:
        try:
            worker.wait_until_ready(timeout=60)
        except RuntimeError as exc:
            pytest.fail(str(exc), pytrace=False)
        yield worker
    finally:
        worker.stop(timeout=20)


def wait_for(predicate: object, *, timeout: float = 15.0, interval: float = 0.05) -> bool:
    """Poll ``predicate()`` until it is truthy or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(interval)
    return bool(predicate())  # type: ignore[operator]
