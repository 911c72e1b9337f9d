"""What benchmarks and tests share: percentiles, peak memory, cleaning up committed bench
rows, putting PostgreSQL in the state a quiet evening would leave it, real Celery
worker and beat processes, and a real gunicorn. Nothing the web or worker processes load imports this (``make
lint`` and tests/test_processes.py check it); it imports no app, so every app's benches
and tests/conftest.py can use it."""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import secrets
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Max, Min, QuerySet

from chs_site import queues
from chs_site.celery import app as celery_app

# --- figures ---------------------------------------------------------------------------


def percentile(times: list[float], pct: int) -> float:
    """The ``pct``-th percentile, 1-99 (linear interpolation between the two nearest runs)."""
    if len(times) < 2:
        return times[0]
    return statistics.quantiles(times, n=100, method="inclusive")[pct - 1]


def p95(times: list[float]) -> float:
    """The 95th percentile (linear interpolation between the two nearest runs)."""
    return percentile(times, 95)


def peak_rss_mb() -> float:
    """This process's peak resident memory so far."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def children_peak_rss_mb() -> float:
    """The largest peak RSS among this process's waited-for children (a stopped worker and
    the pool processes it waited for)."""
    return round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)


def accounts_option(options: dict[str, Any], default: list[int]) -> list[int]:
    """``--accounts 10000,50000`` as a list (``default`` when not given)."""
    raw = options.get("accounts")
    if not raw:
        return default
    return [int(x) for x in str(raw).split(",") if x.strip()]


def _proc_stat_fields(pid: str) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # gone meanwhile
        return None
    # The command name may hold spaces: the fields after it start after its ")".
    return raw[raw.rindex(")") + 2 :].split()


CpuSnapshot = dict[int, tuple[str, float]]  # pid → (its group's name, CPU seconds so far)


def cpu_snapshot(pgids: Mapping[str, int], *, database: str | None = None) -> CpuSnapshot:
    """CPU seconds (user + system, all threads) used so far by each process of the named
    process groups, and by each PostgreSQL backend serving ``database`` (named
    ``"postgres"``). Linux only ({} elsewhere). ``cpu_used`` subtracts two of them."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    names = {pgid: name for name, pgid in pgids.items()}
    out: CpuSnapshot = {}
    proc = Path("/proc")
    for entry in proc.iterdir() if proc.exists() else ():
        if not entry.name.isdigit():
            continue
        fields = _proc_stat_fields(entry.name)
        if fields is None:
            continue
        # After the name: state, ppid, pgrp, ..., utime (12th) and stime (13th).
        used = (int(fields[11]) + int(fields[12])) / tick
        name = names.get(int(fields[2]))
        if name is None and database:
            # A backend's title: "postgres: 15/main: USER DATABASE HOST(PORT) STATE".
            with contextlib.suppress(OSError):
                title = (entry / "cmdline").read_bytes().decode(errors="replace").split()
                if title[:1] == ["postgres:"] and database in title[2:4]:
                    name = "postgres"
        if name is not None:
            out[int(entry.name)] = (name, used)
    return out


def cpu_used(before: CpuSnapshot, after: CpuSnapshot) -> dict[str, float]:
    """CPU seconds each group used between two snapshots (per process, so a process that
    started or ended meanwhile counts what it used while both saw it, never less than 0)."""
    totals: dict[str, float] = {}
    for pid, (name, used) in after.items():
        earlier = before.get(pid)
        totals[name] = totals.get(name, 0.0) + used - (earlier[1] if earlier else 0.0)
    return totals


def machine_busy_cpu_seconds() -> float:
    """CPU seconds all cores spent on anything but idling or waiting for I/O since boot
    (every process on the machine, other people's included). 0 where /proc is missing."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except OSError:
        return 0.0
    ticks = [int(x) for x in first[1:9]]  # user nice system idle iowait irq softirq steal
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


# --- the database ----------------------------------------------------------------------


def vacuum_tables(*tables: str) -> None:
    """What autovacuum does to a production table after a bulk load (visibility map for
    index-only scans, fresh statistics). Only outside a transaction (else nothing)."""
    if connection.vendor != "postgresql" or not connection.get_autocommit():
        return
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"VACUUM ANALYZE {table}")


def settle(*tables: str) -> None:
    """The database as a nightly run finds it: vacuumed as autovacuum would, and the day's
    writes checkpointed. Right after a bench generates its data (gigabytes of WAL), the
    first checkpoint would otherwise write them out while the bench is being timed; what
    the timed work writes itself still triggers the checkpoints it would at night."""
    vacuum_tables(*tables)
    if connection.vendor != "postgresql" or not connection.get_autocommit():
        return
    try:
        with connection.cursor() as cursor:
            cursor.execute("CHECKPOINT")
    except DatabaseError:  # needs superuser or pg_checkpoint: then time it as it comes
        pass


def delete_account_rows(accounts: QuerySet[Any], *tables: str) -> bool:
    """Delete these accounts' rows from the given tables (the big ones: by id range, in
    plain SQL, inside the caller's transaction). False when there are no such accounts."""
    bounds = accounts.aggregate(first=Min("id"), last=Max("id"))
    if bounds["first"] is None:
        return False
    ids_sql, ids_params = accounts.order_by().values("id").query.sql_with_params()
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(
                f"DELETE FROM {table} WHERE account_id BETWEEN %s AND %s"
                f" AND account_id IN ({ids_sql})",
                [bounds["first"], bounds["last"], *ids_params],
            )
    return True


# --- real Celery processes -------------------------------------------------------------

# Beat has no control mailbox in every Celery version the project allows, so it counts as
# ready once its service loop logs this (at INFO).
BEAT_STARTED = "beat: Starting..."


@dataclass
class CeleryProcess:
    """A ``celery worker`` or ``celery beat`` this process started, in a process group of
    its own (``kill`` takes all of it down at once)."""

    process: subprocess.Popen[bytes]
    log_path: Path
    node: str | None  # the worker's node name; None for beat

    @property
    def pid(self) -> int:
        return self.process.pid

    def poll(self) -> int | None:
        return self.process.poll()

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""

    def wait_until_ready(self, timeout: float = 60.0) -> None:
        """Until the worker answers a ping (beat: logs its start); RuntimeError with the
        log's tail if it exits or takes longer than ``timeout`` seconds."""
        what = "worker" if self.node else "beat"
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"celery {what} exited early (code {self.process.returncode}); "
                    f"see {self.log_path}:\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"celery {what} was not ready in {timeout:g} s; "
                    f"see {self.log_path}:\n{self.log_tail()}"
                )
            if self.node is None:
                time.sleep(0.1)  # a ping waits 0.5 s by itself

    def _answers(self) -> bool:
        if self.node is None:
            return BEAT_STARTED in self.log_tail(chars=100_000)
        return bool(celery_app.control.ping(destination=[self.node], timeout=0.5))

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, Celery's warm shutdown (running tasks finish); SIGKILL after
        ``timeout`` seconds. Returns the exit code."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                return self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        return self.kill()

    def kill(self) -> int:
        """SIGKILL to its whole process group at once (the main process and a prefork
        worker's pool), as a crash or the OOM killer would: nothing in flight finishes or
        is acknowledged. Returns the exit code."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        return self.process.wait()


def _start_celery(
    args: list[str], *, queue: str, env: Mapping[str, str] | None, log_path: Path
) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    full_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chs_site.settings",
        **(env or {}),
        # What it sends (follow-up tasks, beat's schedule) goes to the queue it serves.
        "CELERY_QUEUE": queue,
    }
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "chs_site", *args],
            cwd=settings.BASE_DIR,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def start_celery_worker(
    *,
    queue: str,
    node: str,
    log_path: Path,
    pool: str = "threads",
    concurrency: int = 2,
    env: Mapping[str, str] | None = None,
    loglevel: str = "INFO",
    serves: Sequence[str] = queues.QUEUES,
) -> CeleryProcess:
    """A ``celery worker`` as ``node`` (e.g. ``test-123@localhost``) consuming the queues
    ``serves`` (all four by default) of the namespace ``queue`` and nothing else, its output
    in ``log_path``; ``env`` is added to this process's environment. Call
    ``wait_until_ready`` before sending it work, and ``stop`` when done."""
    process = _start_celery(
        [
            "worker",
            f"--pool={pool}",
            f"--concurrency={concurrency}",
            "-Q",
            ",".join(queues.qualified(queue, name) for name in serves),
            "-n",
            node,
            "--without-gossip",
            "--without-mingle",
            f"--loglevel={loglevel}",
        ],
        queue=queue,
        env=env,
        log_path=log_path,
    )
    return CeleryProcess(process=process, log_path=log_path, node=node)


def start_celery_beat(
    *,
    queue: str,
    schedule_dir: Path,
    env: Mapping[str, str] | None = None,
    log_path: Path | None = None,
) -> CeleryProcess:
    """``celery beat`` sending the settings' schedule to ``queue``, keeping its state in a
    throwaway file under ``schedule_dir`` (celery's PersistentScheduler) instead of
    django_celery_beat's tables, which a test database would share with every run."""
    schedule_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_path or schedule_dir / "beat.log"
    process = _start_celery(
        [
            "beat",
            "--scheduler",
            "celery.beat:PersistentScheduler",
            "-s",
            str(schedule_dir / "celerybeat-schedule"),
            "--loglevel=INFO",
        ],
        queue=queue,
        env=env,
        log_path=log_path,
    )
    return CeleryProcess(process=process, log_path=log_path, node=None)


# --- a real web server -----------------------------------------------------------------


def web_env(*, queue: str, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a production web process on loopback: ``DEBUG=0`` (WhiteNoise,
    the static manifest), tasks sent to the queues of ``queue``, plain HTTP (no redirect to
    HTTPS, cookies without ``Secure``), a throwaway secret key unless one is set; ``env``
    on top."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chs_site.settings",
        "DEBUG": "0",
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_COOKIES": "0",
        "SECRET_KEY": os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50),
        **(env or {}),
        "CELERY_QUEUE": queue,
    }


@dataclass
class WebProcess:
    """A gunicorn master (and its workers) this process started, in a process group of its
    own, serving ``url`` on loopback."""

    process: subprocess.Popen[bytes]
    log_path: Path
    access_log_path: Path | None = None
    url: str = ""

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""

    def wait_until_ready(self, timeout: float = 60.0) -> None:
        """Until gunicorn says which port it got and /healthz answers 200 there;
        RuntimeError with the log's tail if it exits or takes longer than ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"gunicorn exited early (code {self.process.returncode}); "
                    f"see {self.log_path}:\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"gunicorn was not ready in {timeout:g} s; "
                    f"see {self.log_path}:\n{self.log_tail()}"
                )
            if not self.url:
                found = re.search(r"Listening at: (http://[\d.]+:\d+)", self.log_tail(100_000))
                self.url = found.group(1) if found else ""
            if self.url and self._healthy():
                return
            time.sleep(0.1)

    def _healthy(self) -> bool:
        """/healthz answers and the database check passes (the broker or the worker check
        may fail: a test may start the web before the worker, or break Redis on purpose)."""
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:  # 503: something else is failing
            body = exc.read()
        except (OSError, urllib.error.URLError):
            return False
        try:
            return bool(json.loads(body)["checks"]["database"]["status"] == "ok")
        except (ValueError, KeyError, TypeError):
            return False

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM (gunicorn's graceful shutdown: requests in flight finish), then SIGKILL
        to the whole group after ``timeout`` seconds. Returns the master's exit code."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                return self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        return self.process.wait()


# One line per request: method, path, status and the time gunicorn spent on it in µs (from
# the moment a worker thread took it: the server's own time, without the wait for a thread).
ACCESS_LOG_FORMAT = "%(m)s %(U)s %(s)s %(D)s"


def start_gunicorn(
    *,
    env: Mapping[str, str],
    log_path: Path,
    workers: int | None = None,
    threads: int | None = None,
    access_log_path: Path | None = None,
) -> WebProcess:
    """``gunicorn chs_site.wsgi`` as production runs it (``gunicorn.conf.py``: preloaded,
    gthread, workers from the core count) on a free loopback port (the kernel picks it: no
    race with other processes), in the environment ``env`` (see ``web_env``); ``workers``
    and ``threads`` override the config's. First ``collectstatic``, which a ``DEBUG=0``
    process needs for its static manifest. With ``access_log_path``, each request's line
    in ``ACCESS_LOG_FORMAT``. Call ``wait_until_ready``, then use ``url``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity=0"],
        cwd=settings.BASE_DIR,
        env=dict(env),
        check=True,
    )
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--config=gunicorn.conf.py",
                "chs_site.wsgi:application",
                "--bind=127.0.0.1:0",
                *([f"--workers={workers}"] if workers else []),
                *([f"--threads={threads}"] if threads else []),
                "--error-logfile=-",
                *(
                    [
                        f"--access-logfile={access_log_path}",
                        f"--access-logformat={ACCESS_LOG_FORMAT}",
                    ]
                    if access_log_path
                    else ["--access-logfile=/dev/null"]
                ),
            ],
            cwd=settings.BASE_DIR,
            env=dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return WebProcess(process=process, log_path=log_path, access_log_path=access_log_path)


@contextlib.contextmanager
def sending_to(queue: str) -> Iterator[None]:
    """Tasks this process sends go to the queues of the namespace ``queue`` meanwhile (a
    bench worker's own, so a developer's running worker never takes them)."""
    previous = celery_app.conf.task_default_queue, celery_app.conf.task_routes
    _route_to(queues.qualified(queue, queues.RECOMPUTE), queues.task_routes(queue))
    try:
        yield
    finally:
        _route_to(*previous)


def _route_to(default_queue: str, routes: Any) -> None:
    celery_app.conf.task_default_queue = default_queue
    celery_app.conf.task_routes = routes
    # Celery builds its router from the routes once and keeps it: build it again.
    celery_app.amqp.flush_routes()
    celery_app.amqp.__dict__.pop("router", None)


def delete_queues(broker_url: str, namespace: str) -> None:
    """Drop the namespace's queues (what its tests or bench left unconsumed) from Redis."""
    client = redis.Redis.from_url(broker_url, socket_timeout=1)
    with contextlib.suppress(redis.RedisError):
        client.delete(*queues.queue_names(namespace))
