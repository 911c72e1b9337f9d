"""``load``: the whole production stack under a working day's traffic, on loopback.

The bench starts gunicorn as production runs it (``gunicorn.conf.py``: workers from the core
count, ``WEB_CONCURRENCY`` and ``WEB_THREADS`` override), a Celery worker (``--workers``
prefork processes) and beat, all on PostgreSQL and Redis and a queue of their own, on the
``pages`` dataset (``--accounts``, default 10 000, over 3 teams of 4 CSMs, with score
history and open tasks). Then, for ``--seconds`` (default 60):

* ``--sessions`` (50) browsing sessions, each logged in through the login form as one of
  the dataset's CSMs (four in five) or managers, loop over what a CSM does: the portfolio
  with a filter or a sort (a third as the HTMX table swap), an account from it with what
  its page loads (charts, fragments), the task queue. Between two actions a session
  thinks for ``--think-time`` seconds (default 1; uniformly 0.5-1.5× that; 0 = as fast as
  possible). A person clicks far less often, so 50 sessions at 1 s stand for a few
  hundred people at work; the pause keeps the load a closed loop with a known offered
  rate (about 50 actions a second) instead of measuring only the length of a queue.
* ``--api-clients`` (5) integrations, each with an ingest-scope API key, post a batch of
  ``BATCH_VALUES`` metric values (the default scorecard's metrics for a set of accounts,
  observed now) to ``/api/v1/metrics/`` every ``INGEST_INTERVAL`` seconds. Each client
  owns its accounts and each batch has its own moment, so every value sent is a row.

Requests are timed in the client (what a user waits for, loopback included) with
requests' connection pooling (keep-alive, as a browser). The figures: requests and
errors by status, p50/p95/p99 per page kind, the values accepted against the rows
stored, and the time from the end of the load until the dirty table is empty and every
ingested account has a score computed after its last batch was sent. The data, sessions,
keys and the queue are deleted at the end. The bench process shares the cores with the
servers (the client threads cost about a tenth of a core)."""

from __future__ import annotations

import html
import os
import random
import re
import runpy
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import redis
import requests
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone

from accounts.models import Account, Role, User
from accounts.services.tokens import create_api_token
from chs_site import queues
from chs_site.bench_pages import (
    PAGES_PREFIX,
    PAGES_TABLES,
    PAGES_USER_PREFIX,
    build_pages_data,
    delete_pages_data,
)
from chs_site.benchmarks import (
    accounts_option,
    cpu_snapshot,
    cpu_used,
    machine_busy_cpu_seconds,
    percentile,
    start_celery_beat,
    start_celery_worker,
    start_gunicorn,
    vacuum_tables,
    web_env,
)
from scoring.models import DirtyAccount, Measure, MetricValue, Scorecard

LOAD_ACCOUNTS = 10_000
LOAD_SECONDS = 60.0
LOAD_SESSIONS = 50
LOAD_API_CLIENTS = 5
THINK_SECONDS = 1.0
BATCH_VALUES = 300  # per request: a sync job's page of values (100 accounts × 3 metrics)
INGEST_INTERVAL = 1.0  # seconds between the starts of one client's batches
RESCORE_TIMEOUT = 180.0  # the minute sweep gets two chances to serve a lost message
REQUEST_TIMEOUT = 60.0
LOAD_PASSWORD = "chs-load-bench"  # noqa: S105 - the bench's own throwaway users

# What a CSM does, and how often (weights).
ACTIONS = (("portfolio", 45), ("account", 40), ("tasks", 15))
PORTFOLIO_QUERIES = (
    "",
    "?sort=-score",
    "?sort=score",
    "?sort=-arr",
    "?sort=renewal",
    "?sort=trend",
    "?sort=-tasks",
    "?band=red",
    "?band=red&sort=-arr",
    "?band=yellow&sort=score",
    "?segment=Enterprise",
    "?stage=renewal",
    "?renewal_within=30&sort=renewal",
    "?dropped_by=10&sort=trend",
    "?q=bench12",
    "?band=yellow&segment=SMB&stage=adoption&renewal_within=180&dropped_by=1&sort=-score",
    "?page=3",
)
TASK_QUERIES = ("", "?status=open", "?status=")

_ACCOUNT_LINK = re.compile(r'href="/accounts/([^/"?#]+)/"')
_ASSET_SRC = re.compile(r'src="(/accounts/[^"]+)"')
_LOAD_FRAGMENT = re.compile(r"<[^>]*\bhx-trigger=\"load\"[^>]*>")
_HX_GET = re.compile(r'\bhx-get="([^"]+)"')
_CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@dataclass
class Timings:
    """One thread's requests: milliseconds by page kind, and what went wrong."""

    ms: dict[str, list[float]] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    error_kinds: Counter[str] = field(default_factory=Counter)

    def request(
        self,
        http: requests.Session,
        kind: str,
        method: str,
        url: str,
        *,
        expect: int = 200,
        **kwargs: Any,
    ) -> requests.Response | None:
        start = time.perf_counter()
        try:
            response = http.request(
                method, url, timeout=REQUEST_TIMEOUT, allow_redirects=False, **kwargs
            )
        except requests.RequestException as exc:
            self.ms.setdefault(kind, []).append((time.perf_counter() - start) * 1000)
            self.errors[type(exc).__name__] += 1
            self.error_kinds[kind] += 1
            return None
        self.ms.setdefault(kind, []).append((time.perf_counter() - start) * 1000)
        if response.status_code != expect:
            self.errors[str(response.status_code)] += 1
            self.error_kinds[kind] += 1
            return None
        return response

    def merge(self, other: Timings) -> None:
        for kind, times in other.ms.items():
            self.ms.setdefault(kind, []).extend(times)
        self.errors.update(other.errors)
        self.error_kinds.update(other.error_kinds)


# --- browsing sessions -----------------------------------------------------------------


class BrowsingSession:
    """One person in a browser: logs in, then portfolio → account → tasks, thinking
    between actions."""

    def __init__(self, base: str, username: str, accounts: list[str], seed: int) -> None:
        self.base = base
        self.username = username
        self.http = requests.Session()
        self.timings = Timings()
        self.rng = random.Random(seed)
        self.in_scope = accounts  # to open one when the last portfolio page listed none
        self.listed: list[str] = []
        self.logged_in = False

    def login(self) -> None:
        page = self.timings.request(self.http, "login", "GET", f"{self.base}/login/")
        found = _CSRF_INPUT.search(page.text) if page is not None else None
        if found is None:
            return
        done = self.timings.request(
            self.http,
            "login",
            "POST",
            f"{self.base}/login/",
            expect=302,
            data={
                "username": self.username,
                "password": LOAD_PASSWORD,
                "csrfmiddlewaretoken": found.group(1),
            },
        )
        self.logged_in = (
            done is not None and done.headers.get("Location") == settings.LOGIN_REDIRECT_URL
        )

    def run(self, stop: threading.Event, think: float) -> None:
        if not self.logged_in:
            return
        stop.wait(self.rng.uniform(0, think))  # people do not all click at the same moment
        kinds = [k for k, _ in ACTIONS]
        weights = [w for _, w in ACTIONS]
        while not stop.is_set():
            getattr(self, f"_{self.rng.choices(kinds, weights)[0]}")()
            if think:
                stop.wait(self.rng.uniform(0.5 * think, 1.5 * think))

    def logout(self) -> None:
        token = self.http.cookies.get("csrftoken")
        if self.logged_in and token:
            self.timings.request(
                self.http,
                "logout",
                "POST",
                f"{self.base}/logout/",
                expect=302,
                headers={"X-CSRFToken": token},
            )
        self.http.close()

    def _portfolio(self) -> None:
        # A filter or sort change is an HTMX swap of the table; a third arrive that way.
        htmx = {"HX-Request": "true"} if self.rng.random() < 1 / 3 else {}
        query = self.rng.choice(PORTFOLIO_QUERIES)
        page = self.timings.request(
            self.http, "portfolio", "GET", f"{self.base}/portfolio/{query}", headers=htmx
        )
        if page is not None:
            self.listed = _ACCOUNT_LINK.findall(page.text)

    def _account(self) -> None:
        external_id = self.rng.choice(self.listed or self.in_scope)
        page = self.timings.request(
            self.http, "account", "GET", f"{self.base}/accounts/{external_id}/"
        )
        if page is None:
            return
        # What the browser loads with the page: its charts and its hx-trigger="load" parts.
        parts = _ASSET_SRC.findall(page.text)
        for tag in _LOAD_FRAGMENT.findall(page.text):
            found = _HX_GET.search(tag)
            if found:
                parts.append(found.group(1))
        for part in parts:
            is_image = part.split("?")[0].endswith(".svg")
            self.timings.request(
                self.http,
                "account_parts",
                "GET",
                self.base + html.unescape(part),
                headers={} if is_image else {"HX-Request": "true"},
            )

    def _tasks(self) -> None:
        query = self.rng.choice(TASK_QUERIES)
        self.timings.request(self.http, "tasks", "GET", f"{self.base}/tasks/{query}")


# --- integrations ----------------------------------------------------------------------


class IngestClient:
    """An integration posting batches of metric values with its ingest-scope key; it owns
    ``accounts`` (no other client sends values for them)."""

    def __init__(
        self, base: str, key: str, accounts: list[str], metrics: list[tuple[str, float, float]]
    ) -> None:
        self.url = f"{base}/api/v1/metrics/"
        self.http = requests.Session()
        self.http.headers.update({"Authorization": f"Token {key}"})
        self.timings = Timings()
        self.accounts = accounts
        self.metrics = metrics  # (key, low, high) for plausible values
        self.per_batch = max(1, min(BATCH_VALUES // len(metrics), len(accounts)))
        self.rng = random.Random(key)
        self.values_accepted = 0
        self.values_refused = 0
        self.batches = 0
        self.last_sent: dict[str, datetime] = {}  # account → when its last batch was sent
        self._next = 0
        self._observed = timezone.now() - timedelta(seconds=1)

    def run(self, stop: threading.Event, interval: float) -> None:
        while not stop.is_set():
            started = time.monotonic()
            self._send()
            if interval:
                stop.wait(max(0.0, interval - (time.monotonic() - started)))
        self.http.close()

    def _send(self) -> None:
        n = len(self.accounts)
        chosen = [self.accounts[(self._next + i) % n] for i in range(self.per_batch)]
        self._next = (self._next + self.per_batch) % n
        # Its own moment per batch: a later batch for the same account is a new row.
        self._observed = max(timezone.now(), self._observed + timedelta(milliseconds=1))
        observed = self._observed.isoformat()
        values = [
            {
                "account": account,
                "metric": key,
                "value": round(self.rng.uniform(low, high), 2),
                "observed_at": observed,
            }
            for account in chosen
            for key, low, high in self.metrics
        ]
        sent_at = timezone.now()
        for account in chosen:
            self.last_sent[account] = sent_at
        response = self.timings.request(
            self.http, "api_ingest", "POST", self.url, expect=202, json={"values": values}
        )
        self.batches += 1
        if response is not None and response.json().get("accepted") == len(values):
            self.values_accepted += len(values)
        else:
            self.values_refused += len(values)


# --- the bench -------------------------------------------------------------------------


def page_kind(path: str) -> str:
    """Which figure a request counts in, by its path (the client's URL or the access log's)."""
    path = path.split("?")[0]
    if path.startswith("/accounts/"):
        # /accounts/<id>/ is the page; what it loads lies below it.
        return "account" if path.count("/") == 3 and path.endswith("/") else "account_parts"
    for prefix, kind in (
        ("/portfolio/", "portfolio"),
        ("/tasks/", "tasks"),
        ("/api/v1/metrics/", "api_ingest"),
        ("/login/", "login"),
        ("/logout/", "logout"),
    ):
        if path.startswith(prefix):
            return kind
    return "other"


def server_times(access_log: Path) -> dict[str, list[float]]:
    """Milliseconds gunicorn spent on each request, by page kind (its access log)."""
    out: dict[str, list[float]] = {}
    for line in access_log.read_text().splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[3].isdigit():
            out.setdefault(page_kind(parts[1]), []).append(int(parts[3]) / 1000)
    return out


def _figures(
    kind: str, times: list[float], errors: int, server: list[float] | None
) -> dict[str, Any]:
    figures = {
        "bench": "load",
        "page": kind,
        "requests": len(times),
        "errors": errors,
        "p50_ms": round(percentile(times, 50), 1),
        "p95_ms": round(percentile(times, 95), 1),
        "p99_ms": round(percentile(times, 99), 1),
        "max_ms": round(max(times), 1),
    }
    if server:
        # The server's own time (gunicorn's access log); the rest is waiting for a thread.
        figures["server_p50_ms"] = round(percentile(server, 50), 1)
        figures["server_p95_ms"] = round(percentile(server, 95), 1)
    return figures


def _metric_ranges() -> list[tuple[str, float, float]]:
    """The default scorecard's metrics, with values from a little below ``bad`` to a
    little above ``good`` (scores move, and sometimes bands)."""
    card = Scorecard.objects.get(segment="", status=Scorecard.Status.ACTIVE)
    out = []
    for measure in Measure.objects.filter(scorecard=card).select_related("metric"):
        low, high = sorted((measure.bad, measure.good))
        margin = (high - low) * 0.1
        out.append((measure.metric.key, low - margin, high + margin))
    return out


def bench_load(options: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Browsing sessions and ingesting integrations against gunicorn, a Celery worker and
    beat on PostgreSQL + Redis; every value stored and rescored."""
    if not settings.IS_POSTGRES or settings.CELERY_TASK_ALWAYS_EAGER:
        yield {
            "bench": "load",
            "skipped": "needs PostgreSQL and Redis (DATABASE_URL, CELERY_BROKER_URL)",
        }
        return
    delete_pages_data()
    queue = f"chs-load-{os.getpid()}"
    try:
        yield from _bench_load(options, queue)
    finally:
        delete_pages_data()
        # The queue (what beat sent that the stopped worker never took), its bindings and the
        # cache entries of the run (throttle counts, cached sizes: the cache's key prefix).
        client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
        for name in queues.queue_names(queue):
            client.delete(name, f"_kombu.binding.{name}", f"_kombu.binding_permanent.{name}")
        for key in client.scan_iter(f"{queue}:*"):
            client.delete(key)


bench_load.commits = True  # type: ignore[attr-defined]


def _option(options: dict[str, Any], name: str, default: float) -> float:
    """An option's value; 0 counts (no API clients, no think time), absent is the default."""
    value = options.get(name)
    return default if value is None else float(value)


def _bench_load(options: dict[str, Any], queue: str) -> Iterator[dict[str, Any]]:
    n_accounts = accounts_option(options, [LOAD_ACCOUNTS])[-1]
    seconds = _option(options, "seconds", LOAD_SECONDS)
    n_sessions = int(_option(options, "sessions", LOAD_SESSIONS))
    n_clients = int(_option(options, "api_clients", LOAD_API_CLIENTS))
    think = _option(options, "think_time", THINK_SECONDS)
    workers = int(options.get("workers") or os.cpu_count() or 2)

    setup_start = time.perf_counter()
    with transaction.atomic():
        build_pages_data(n_accounts)
        users = User.objects.filter(username__startswith=PAGES_USER_PREFIX)
        users.update(password=make_password(LOAD_PASSWORD))
        admin = users.get(role=Role.ADMIN)
        keys = [create_api_token(user=admin, scope="ingest").key for _ in range(n_clients)]
    vacuum_tables(*PAGES_TABLES)
    metrics = _metric_ranges()
    csms = list(users.filter(role=Role.CSM).select_related("team").order_by("username"))
    managers = list(users.filter(role=Role.MANAGER).order_by("username"))
    accounts = Account.objects.filter(external_id__startswith=PAGES_PREFIX)
    books: dict[int, list[str]] = {}
    for external_id, owner_id in accounts.order_by("pk").values_list("external_id", "owner_id"):
        books.setdefault(owner_id, []).append(external_id)
    all_ids = [e for book in books.values() for e in book]
    team_books = {
        m.pk: [e for c in csms if c.team and c.team.manager_id == m.pk for e in books[c.pk]]
        for m in managers
    }
    values_before = MetricValue.objects.filter(account__in=accounts).count()

    var = settings.VAR_DIR
    tmp = Path(tempfile.mkdtemp(prefix="chs-load-", dir=var if var.exists() else None))
    env = web_env(queue=queue)
    worker = start_celery_worker(
        queue=queue,
        node=f"load-{os.getpid()}@localhost",
        pool="prefork",
        concurrency=workers,
        env=env,
        log_path=tmp / "worker.log",
        loglevel="WARNING",
    )
    beat = start_celery_beat(queue=queue, schedule_dir=tmp, env=env)
    web = start_gunicorn(
        env=env,
        log_path=tmp / "gunicorn.log",
        access_log_path=tmp / "access.log",
    )
    sessions: list[BrowsingSession] = []
    clients: list[IngestClient] = []
    try:
        worker.wait_until_ready(timeout=120)
        beat.wait_until_ready(timeout=60)
        web.wait_until_ready(timeout=120)

        for i in range(n_sessions):
            if i % 5 == 4 and managers:
                user = managers[(i // 5) % len(managers)]
                book = team_books[user.pk]
            else:
                user = csms[i % len(csms)]
                book = books[user.pk]
            sessions.append(BrowsingSession(web.url, user.username, book, seed=i))
        _in_threads([s.login for s in sessions])
        clients = [
            IngestClient(web.url, key, all_ids[c::n_clients], metrics) for c, key in enumerate(keys)
        ]
        yield {
            "bench": "load",
            "case": "setup",
            "accounts": n_accounts,
            "sessions": n_sessions,
            "sessions_logged_in": sum(s.logged_in for s in sessions),
            "api_clients": n_clients,
            "think_time_s": think,
            "batch_values": BATCH_VALUES,
            "web": "gunicorn {workers} workers x {threads} threads".format(
                **runpy.run_path(str(settings.BASE_DIR / "gunicorn.conf.py"))
            ),
            "celery": f"prefork x {workers} + beat",
            "cpus": os.cpu_count(),
            "loadavg_1m_before": round(os.getloadavg()[0], 2),
            "logs": str(tmp),
            "seconds": round(time.perf_counter() - setup_start, 1),
        }

        stop = threading.Event()
        timer = threading.Timer(seconds, stop.set)
        groups = {"web": web.pid, "celery_worker": worker.pid, "celery_beat": beat.pid}
        database = str(settings.DATABASES["default"]["NAME"])
        cpu_before = (
            os.times(),
            cpu_snapshot(groups, database=database),
            machine_busy_cpu_seconds(),
        )
        load_start = time.perf_counter()
        timer.start()
        _in_threads(
            [lambda s=s: s.run(stop, think) for s in sessions]
            + [lambda c=c: c.run(stop, INGEST_INTERVAL) for c in clients]
        )
        load_seconds = time.perf_counter() - load_start
        load_end = timezone.now()
        cpu_after = (
            os.times(),
            cpu_snapshot(groups, database=database),
            machine_busy_cpu_seconds(),
        )
        loadavg = os.getloadavg()[0]
        dirty_at_end = DirtyAccount.objects.count()
        rescore = _wait_for_rescores(clients)
        rescored_seconds = (timezone.now() - load_end).total_seconds()
    finally:
        _in_threads([s.logout for s in sessions])
        web.stop()
        beat.stop()
        worker.stop(timeout=60)

    total = Timings()
    for timings in [*(s.timings for s in sessions), *(c.timings for c in clients)]:
        total.merge(timings)
    server = server_times(tmp / "access.log")
    for kind in ("portfolio", "account", "account_parts", "tasks", "api_ingest", "login"):
        if total.ms.get(kind):
            yield _figures(kind, total.ms[kind], total.error_kinds[kind], server.get(kind))
    timed = [k for k in total.ms if k not in ("login", "logout")]
    requests_timed = sum(len(total.ms[k]) for k in timed)
    yield {
        "bench": "load",
        "case": "requests",
        "seconds": round(load_seconds, 1),
        "requests": requests_timed,
        "requests_per_s": round(requests_timed / load_seconds, 1),
        "errors": sum(total.errors.values()),
        "errors_by_status": dict(total.errors),
        "loadavg_1m_at_end": round(loadavg, 2),
        **_cpu_figures(cpu_before, cpu_after, load_seconds),
    }
    accepted = sum(c.values_accepted for c in clients)
    stored = MetricValue.objects.filter(account__in=accounts).count() - values_before
    yield {
        "bench": "load",
        "case": "ingest",
        "batches": sum(c.batches for c in clients),
        "values_sent": accepted + sum(c.values_refused for c in clients),
        "values_accepted": accepted,
        "values_stored": stored,
        "values_per_s": round(accepted / load_seconds),
        "accounts_ingested": rescore["accounts"],
    }
    yield {
        "bench": "load",
        "case": "rescored",
        "dirty_at_end_of_load": dirty_at_end,
        "dirty_now": rescore["dirty"],
        "accounts_not_rescored": rescore["stale"],
        "seconds_until_all_rescored": (round(rescored_seconds, 1) if rescore["done"] else None),
    }


def _cpu_figures(before: Any, after: Any, seconds: float) -> dict[str, Any]:
    """Where the cores went during the load: our processes, PostgreSQL's backends for our
    database, and everything else on the machine (other people's work: the noise)."""
    (times0, procs0, busy0), (times1, procs1, busy1) = before, after
    used = cpu_used(procs0, procs1)
    used["bench_clients"] = (times1.user + times1.system) - (times0.user + times0.system)
    used["others"] = (busy1 - busy0) - sum(used.values())
    return {
        "cpu_s_available": round((os.cpu_count() or 1) * seconds, 1),
        "cpu_s": {name: round(value, 1) for name, value in used.items()},
    }


def _wait_for_rescores(clients: list[IngestClient]) -> dict[str, Any]:
    """Until the dirty table is empty and every ingested account's score was computed after
    its last batch was sent (or RESCORE_TIMEOUT)."""
    last_sent: dict[str, datetime] = {}
    for client in clients:
        last_sent.update(client.last_sent)
    deadline = time.monotonic() + RESCORE_TIMEOUT
    dirty, stale = -1, len(last_sent)
    while time.monotonic() < deadline:
        dirty = DirtyAccount.objects.count()
        if dirty == 0:
            computed = dict(
                Account.objects.filter(external_id__in=list(last_sent)).values_list(
                    "external_id", "computed_at"
                )
            )
            stale = sum(
                1
                for external_id, sent in last_sent.items()
                if (at := computed.get(external_id)) is None or at < sent
            )
            if stale == 0:
                return {"done": True, "accounts": len(last_sent), "dirty": 0, "stale": 0}
        time.sleep(0.2)
    return {"done": False, "accounts": len(last_sent), "dirty": dirty, "stale": stale}


def _in_threads(calls: list[Any]) -> None:
    """Run each call in a thread of its own and wait for all of them."""
    threads = [threading.Thread(target=call, daemon=True) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


BENCHMARKS = [bench_load]
