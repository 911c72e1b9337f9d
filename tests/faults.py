"""Helpers for fault tests: real processes on loopback that a test starts, breaks and
restarts — Celery workers and beat on a private queue, gunicorn, and a private
``redis-server`` on a free port that the test can stop and start again.

Every process is stopped at the end (``Processes.stop``), whatever the test did to it."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import redis
from django.conf import settings

from chs_site.benchmarks import (
    CeleryProcess,
    WebProcess,
    delete_queues,
    start_celery_beat,
    start_celery_worker,
    start_gunicorn,
    web_env,
)
from chs_site.queues import QUEUES
from tests.conftest import database_url_for_current_test_db, wait_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A ``redis-server`` of the test's own (nothing on disk), stoppable and restartable
    on the same port, so clients that hold its URL see an outage and a return."""

    def __init__(self, tmp_path: Path) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed (make services installs it)"
        self.binary = binary
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log_path = tmp_path / f"redis-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--logfile",
                str(self.log_path),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        assert wait_for(self.answers, timeout=10), "redis-server did not start"

    def answers(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url, socket_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        """SIGTERM, as a restart or an out-of-memory kill would end it; its data is gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


class _KeepRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer to check (a page sending a signed-out user to log in), not
    something to follow."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_NO_REDIRECTS = urllib.request.build_opener(_KeepRedirects)


class Web:
    """A production web process (``chs_site.benchmarks.start_gunicorn``: ``DEBUG=0``,
    collectstatic, gunicorn on a free loopback port) and a small HTTP client for it."""

    def __init__(self, env: dict[str, str], queue: str, log_path: Path) -> None:
        # The test's secret key, so a session the test signs in is valid there too.
        env = {"SECRET_KEY": settings.SECRET_KEY, **env}
        self.process: WebProcess = start_gunicorn(
            env=web_env(queue=queue, env=env), log_path=log_path, workers=1, threads=4
        )
        self.process.wait_until_ready(timeout=90)

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float = 10,
    ) -> tuple[int, bytes]:
        """(status, body); status 0 when the connection itself failed."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.process.url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        try:
            with _NO_REDIRECTS.open(request, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except (urllib.error.URLError, OSError):
            return 0, b""

    def log_tail(self, chars: int = 4000) -> str:
        return self.process.log_tail(chars)

    def stop(self) -> None:
        self.process.stop(timeout=15)


class Processes:
    """Workers, beat and gunicorn on one private queue (and, optionally, a private Redis);
    all stopped at the end."""

    def __init__(self, tmp_path: Path, *, broker_url: str | None = None) -> None:
        self.queue = f"chs-faults-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.tmp_path = tmp_path
        self.broker_url = broker_url or settings.CELERY_BROKER_URL
        self.started: list[CeleryProcess] = []
        self.web: list[Web] = []
        self.env = {
            "DATABASE_URL": database_url_for_current_test_db(),
            "CELERY_BROKER_URL": self.broker_url,
            "CELERY_QUEUE": self.queue,
            "CHS_TESTING": "1",
        }

    def worker(
        self,
        name: str,
        *,
        pool: str = "solo",
        concurrency: int = 1,
        serves: Sequence[str] = QUEUES,
        env: dict[str, str] | None = None,
    ) -> CeleryProcess:
        """By default one task at a time in the worker's own process (``solo``), so killing
        it kills the task it is running; every queue unless ``serves`` names some."""
        worker = start_celery_worker(
            queue=self.queue,
            node=f"{name}-{self.queue}@localhost",
            pool=pool,
            concurrency=concurrency,
            serves=serves,
            env={**self.env, **(env or {})},
            log_path=self.tmp_path / f"{name}.log",
        )
        self.started.append(worker)
        if self.broker_url == settings.CELERY_BROKER_URL:
            worker.wait_until_ready(timeout=60)
        else:  # a ping would go through this process's broker, not the private one
            ready = wait_for(lambda: " ready." in worker.log_tail(chars=100_000), timeout=60)
            assert ready and worker.poll() is None, worker.log_tail()
        return worker

    def beat(self) -> CeleryProcess:
        beat = start_celery_beat(queue=self.queue, schedule_dir=self.tmp_path, env=self.env)
        self.started.append(beat)
        beat.wait_until_ready(timeout=60)
        return beat

    def gunicorn(self) -> Web:
        web = Web(self.env, self.queue, self.tmp_path / "gunicorn.log")
        self.web.append(web)
        return web

    def logs(self) -> str:
        return "\n".join([*(p.log_tail() for p in self.started), *(w.log_tail() for w in self.web)])

    def stop(self) -> None:
        for web in self.web:
            web.stop()
        for process in self.started:
            process.stop(timeout=20)
        delete_queues(self.broker_url, self.queue)


def wait_until(predicate: Any, *, timeout: float) -> float | None:
    """Seconds until ``predicate()`` held, or None if it never did within ``timeout``."""
    start = time.monotonic()
    if wait_for(predicate, timeout=timeout, interval=0.2):
        return time.monotonic() - start
    return None
