"""The production stack as `make serve` starts it: ``bin/serve`` (the release steps, then the
Procfile under honcho) with real processes on loopback, on the test database and a private
``redis-server``, checked over HTTP and through Celery's control channel, then stopped with
SIGTERM as a terminal's Ctrl-C, systemd or CI would stop it."""

from __future__ import annotations

import contextlib
import http.cookiejar
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher

from accounts.models import User
from tests.conftest import ROOT, database_url_for_current_test_db, require, wait_for
from tests.factories import UserFactory
from tests.faults import RedisServer, free_port

# The Procfile's workers and the queues each consumes ("chs": the default queue, taken by
# the recompute worker so that a task without a route always has a consumer).
WORKER_QUEUES = {
    "recompute": {"recompute"},
    "playbooks": {"playbooks"},
    "imports": {"imports"},
    "notifications": {"notifications"},
}
CELERY = [sys.executable, "-m", "celery", "-A", "chs_site"]
# Variables of this test process that would change what the stack does.
_NOT_INHERITED = {"DATABASE_URL", "CELERY_BROKER_URL", "CELERY_QUEUE", "CACHE_URL", "DEBUG"}


def release_env(**extra: str) -> dict[str, str]:
    """This environment without the stack's settings, the virtualenv's tools on PATH."""
    env = {k: v for k, v in os.environ.items() if k not in _NOT_INHERITED}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["CHS_TESTING"] = "0"  # production settings: WhiteNoise, the manifest, real hashers
    return {**env, **extra}


def run_release(env: dict[str, str], marker: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / "bin" / "release"), "touch", str(marker)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "set DATABASE_URL CELERY_BROKER_URL SECRET_KEY."),
        (
            {"DATABASE_URL": "sqlite:///var/x.sqlite3", "CELERY_BROKER_URL": "redis://h/0"},
            "DATABASE_URL must be a postgresql:// URL",
        ),
        (
            {"DATABASE_URL": "postgresql://h/x", "CELERY_BROKER_URL": "amqp://h//"},
            "CELERY_BROKER_URL must be a redis:// or rediss:// URL",
        ),
        (
            {"DATABASE_URL": "postgresql://h/x", "CELERY_BROKER_URL": "redis://h/0", "DEBUG": "1"},
            "production never runs in debug mode",
        ),
    ],
)
def test_release_refuses_to_start_without_postgres_redis_and_a_secret_key(
    env: dict[str, str], message: str, tmp_path: Path
) -> None:
    marker = tmp_path / "started"
    base = release_env(**env)
    if "DATABASE_URL" in env:
        base["SECRET_KEY"] = "a-key-for-this-test-only"
    else:
        base.pop("SECRET_KEY", None)
    result = run_release(base, marker)
    assert result.returncode == 2
    assert message in result.stderr
    assert not marker.exists()  # neither the release steps nor the command ran


class Browser:
    """urllib with a cookie jar that does not follow redirects: a person's browser on
    plain http (a ``Secure`` cookie would not come back)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.cookies = http.cookiejar.CookieJar()

        class KeepRedirects(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args: object, **kwargs: object) -> None:
                return None

        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.cookies), KeepRedirects
        )

    def get(self, path: str) -> tuple[int, dict[str, str], bytes]:
        return self._open(urllib.request.Request(self.base_url + path))

    def post_form(self, path: str, fields: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        data = urllib.parse.urlencode(fields).encode()
        return self._open(urllib.request.Request(self.base_url + path, data=data))

    def _open(self, request: urllib.request.Request) -> tuple[int, dict[str, str], bytes]:
        try:
            with self.opener.open(request, timeout=20) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()


def _proc_stat(pid: int) -> list[str] | None:
    """state, ppid, … and start time of a process (None once it is gone)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return raw.rsplit(")", 1)[1].split()


def descendants(pid: int) -> dict[int, str]:
    """Every process below ``pid`` (children, their children…), each with its start time."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        fields = _proc_stat(int(stat.parent.name))
        if fields:
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: dict[int, str] = {}
    todo = list(children.get(pid, []))
    while todo:
        child = todo.pop()
        fields = _proc_stat(child)
        if fields:
            found[child] = fields[19]
            todo.extend(children.get(child, []))
    return found


def still_running(processes: dict[int, str]) -> list[int]:
    """Those of ``processes`` still alive (a zombie has finished; a reused pid is another)."""
    alive = []
    for pid, started in processes.items():
        fields = _proc_stat(pid)
        if fields and fields[0] != "Z" and fields[19] == started:
            alive.append(pid)
    return alive


@contextlib.contextmanager
def serving(env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``bin/serve`` in a session of its own; whatever the test did, nothing outlives it."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(ROOT / "bin" / "serve")],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    started: dict[int, str] = {}
    try:
        yield process
    finally:
        if process.poll() is None:
            started = descendants(process.pid)
            process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=30)
        for pid in [process.pid, *still_running(started)]:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        process.wait()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_serve_runs_the_production_stack_and_stops_it_whole(tmp_path: Path) -> None:
    require(shutil.which("redis-server") is not None, "this test needs redis-server")
    redis_server = RedisServer(tmp_path)
    redis_server.start()
    password = secrets.token_urlsafe(12)
    hasher = PBKDF2PasswordHasher()  # what the stack verifies with (tests hash with MD5)
    UserFactory(username="serve-csm")
    User.objects.filter(username="serve-csm").update(
        password=hasher.encode(password, hasher.salt())
    )
    port = free_port()
    env = release_env(
        DATABASE_URL=database_url_for_current_test_db(),
        CELERY_BROKER_URL=redis_server.url,
        SECRET_KEY=secrets.token_urlsafe(50),
        # What `make serve` sets for plain http on loopback.
        SECURE_COOKIES="0",
        SECURE_SSL_REDIRECT="0",
        HOST="127.0.0.1",
        PORT=str(port),
        WEB_CONCURRENCY="1",
        WEB_THREADS="2",
        WORKER_CONCURRENCY="1",
    )
    log_path = tmp_path / "serve.log"
    browser = Browser(f"http://127.0.0.1:{port}")

    def healthy() -> bool:
        with contextlib.suppress(OSError):
            return browser.get("/healthz")[0] == 200
        return False

    try:
        with serving(env, log_path) as process:

            def log() -> str:
                return log_path.read_text(errors="replace")[-4000:]

            assert wait_for(lambda: healthy() or process.poll() is not None, timeout=90)
            assert process.poll() is None, log()
            assert healthy(), log()

            # /healthz: PostgreSQL, Redis and a worker's heartbeat.
            status, _, body = browser.get("/healthz")
            checks = json.loads(body)["checks"]
            assert checks["database"]["engine"] == "postgresql"
            assert checks["broker"]["mode"] == "workers"
            assert checks["worker"]["status"] == "ok"

            # One worker per queue, each consuming its queue (asked through the stack's Redis).
            consumed: dict[str, set[str]] = {}

            def all_workers_answer() -> bool:
                result = subprocess.run(
                    [*CELERY, "inspect", "active_queues", "--json", "--timeout=3"],
                    cwd=ROOT,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=60,
                    check=False,
                )
                lines = result.stdout.strip().splitlines()
                answers = json.loads(lines[-1]) if result.returncode == 0 and lines else {}
                consumed.clear()
                for node, queues in answers.items():
                    consumed[node.split("@")[0]] = {q["name"] for q in queues}
                return len(consumed) == len(WORKER_QUEUES)

            assert wait_for(all_workers_answer, timeout=30), (consumed, log())
            assert consumed == WORKER_QUEUES, log()

            # The login page, and its stylesheet by the hashed name the manifest gives it,
            # from WhiteNoise (far-future, immutable caching is its mark for such names).
            status, _, page = browser.get("/login/")
            assert status == 200 and b"<form" in page
            css = re.search(rb"/static/css/chs\.[0-9a-f]{12}\.css", page)
            assert css, page[:2000]
            status, headers, asset = browser.get(css.group().decode())
            assert status == 200 and b"{" in asset
            assert "immutable" in headers.get("Cache-Control", ""), headers

            # A page that does not exist: CHS's own 404, not Django's technical page.
            status, _, missing = browser.get("/no-such-page/")
            assert status == 404
            assert b"Not found" in missing and b"DEBUG = True" not in missing

            # Signing in works on plain http: the session and CSRF cookies come back.
            token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)
            assert token and any(c.name == "csrftoken" for c in browser.cookies)
            status, headers, _ = browser.post_form(
                "/login/",
                {
                    "csrfmiddlewaretoken": token.group(1).decode(),
                    "username": "serve-csm",
                    "password": password,
                },
            )
            assert (status, headers.get("Location")) == (302, "/today/"), log()
            status, _, _ = browser.get("/portfolio/")
            assert status == 200  # signed out, it would send the browser to /login/

            # SIGTERM to honcho stops every process it started (gunicorn's workers and
            # Celery's pool processes included), and honcho itself.
            processes = descendants(process.pid)
            assert len(processes) >= 6, processes  # web, four workers, beat
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
            assert wait_for(lambda: not still_running(processes), timeout=10), [
                Path(f"/proc/{pid}/cmdline").read_bytes() for pid in still_running(processes)
            ]
            assert "recompute.1 stopped" in log()
    finally:
        redis_server.stop()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_image_entrypoint_runs_one_procfile_process_in_its_own_place(tmp_path: Path) -> None:
    """What a container (and a systemd unit) runs: ``bin/release bin/proc web``. The release
    steps, then gunicorn in the same process, so the SIGTERM of ``docker stop`` or systemd
    reaches gunicorn itself, which finishes and exits 0."""
    require(shutil.which("redis-server") is not None, "this test needs redis-server")
    redis_server = RedisServer(tmp_path)
    redis_server.start()
    port = free_port()
    env = release_env(
        DATABASE_URL=database_url_for_current_test_db(),
        CELERY_BROKER_URL=redis_server.url,
        SECRET_KEY=secrets.token_urlsafe(50),
        # Plain http on loopback (behind TLS, the defaults redirect to https).
        SECURE_COOKIES="0",
        SECURE_SSL_REDIRECT="0",
        HOST="127.0.0.1",
        PORT=str(port),
        WEB_CONCURRENCY="1",
    )
    log_path = tmp_path / "web.log"
    browser = Browser(f"http://127.0.0.1:{port}")

    def answers() -> bool:
        with contextlib.suppress(OSError):
            return browser.get("/login/")[0] == 200
        return False

    try:
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [str(ROOT / "bin" / "release"), "bin/proc", "web"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            assert wait_for(lambda: answers() or process.poll() is not None, timeout=90)
            assert answers(), log_path.read_text(errors="replace")[-3000:]
            cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes().split(b"\0")
            assert any(part.endswith(b"gunicorn") for part in cmdline), cmdline
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
            assert "Shutting down: Master" in log_path.read_text(errors="replace")
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    finally:
        redis_server.stop()
