"""Production logs and error reporting, in fresh processes: JSON lines from web requests
(with the request's id) and from a Celery worker, and an exception in a view reported to a
Sentry-protocol server on loopback by the real client."""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.conf import settings

from chs_site.benchmarks import start_celery_worker
from tests.conftest import ROOT, wait_for

PRODUCTION = {
    "PATH": os.environ["PATH"],
    "CHS_TESTING": "0",
    "DJANGO_SETTINGS_MODULE": "chs_site.settings",
    "DEBUG": "0",
    "SECRET_KEY": "a-key-for-this-test-only-" + "x" * 30,
    "SECURE_SSL_REDIRECT": "0",
}


def run_request(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()\n" + code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def json_lines(text: str) -> list[dict[str, object]]:
    """Every line of ``text`` as JSON (a line that is not JSON fails the test)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_web_logs_are_json_lines_carrying_the_request_id() -> None:
    code = """
from django.test import Client
response = Client().get("/api/v1/no-such-page/", headers={"X-Request-ID": "req-42"})
print(response.status_code, response["X-Request-ID"])
"""
    result = run_request(code, {**PRODUCTION, "LOG_FORMAT": "json"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["404", "req-42"]
    records = json_lines(result.stderr)
    not_found = [r for r in records if r["logger"] == "django.request"]
    assert not_found and not_found[0]["level"] == "WARNING"
    assert not_found[0]["message"] == "Not Found: /api/v1/no-such-page/"
    assert not_found[0]["request_id"] == "req-42"
    assert {"time", "level", "logger", "message"} <= set(records[0])


def test_production_logs_default_to_json_and_debug_to_plain_text() -> None:
    code = "import logging; logging.getLogger('chs').warning('hello')"
    assert json_lines(run_request(code, PRODUCTION).stderr)[0]["message"] == "hello"
    plain = run_request(code, {**PRODUCTION, "DEBUG": "1"}).stderr
    assert plain.rstrip().endswith("WARNING chs: hello")


@pytest.mark.worker
def test_a_celery_worker_logs_json_lines(tmp_path: Path) -> None:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        pytest.skip("needs Redis")
    worker = start_celery_worker(
        queue=f"{settings.CELERY_QUEUE_NAMESPACE}-json",
        node=f"json-{os.getpid()}@localhost",
        env={"CHS_TESTING": "1", "LOG_FORMAT": "json"},
        log_path=tmp_path / "worker.log",
    )
    try:
        worker.wait_until_ready(timeout=60)
    finally:
        worker.stop(timeout=20)
    # Celery prints its banner and "Warm shutdown" (not log records); every record is JSON.
    log = worker.log_tail(chars=100_000)
    records = json_lines("\n".join(line for line in log.splitlines() if line.startswith("{")))
    assert not re.search(r"^\d{4}-\d\d-\d\d [\d:,]+ [A-Z]+ ", log, re.MULTILINE)  # plain text
    assert any(str(r["message"]).endswith(" ready.") for r in records)
    assert any(str(r["logger"]).startswith("celery.") for r in records)


# --- error reporting -----------------------------------------------------------------------


class SentryServer(ThreadingHTTPServer):
    envelopes: list[bytes]


class _Receiver(BaseHTTPRequestHandler):
    server: SentryServer

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.server.envelopes.append(body)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def sentry_server() -> Iterator[SentryServer]:
    server = SentryServer(("127.0.0.1", 0), _Receiver)
    server.envelopes = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    thread.join()
    server.server_close()


def test_an_exception_in_a_view_reaches_the_error_reporting_server(
    sentry_server: SentryServer,
) -> None:
    port = sentry_server.server_address[1]
    code = """
from unittest import mock
import sentry_sdk
from django.test import Client
with mock.patch("chs_site.views._scoring_details", side_effect=ZeroDivisionError("boom")):
    response = Client(raise_request_exception=False).get("/healthz")
print(response.status_code)
sentry_sdk.flush(timeout=10)
"""
    env = {
        **PRODUCTION,
        "SENTRY_DSN": f"http://publickey@127.0.0.1:{port}/1",
        "SENTRY_ENVIRONMENT": "staging",
        "SENTRY_RELEASE": "chs@1.2.3",
    }
    result = run_request(code, env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["500"]
    assert wait_for(lambda: sentry_server.envelopes, timeout=10)
    events = [
        json.loads(line)
        for envelope in sentry_server.envelopes
        for line in envelope.splitlines()[1:]
        if line.startswith(b"{") and b'"exception"' in line
    ]
    assert events, sentry_server.envelopes
    event = events[0]
    assert event["exception"]["values"][-1]["type"] == "ZeroDivisionError"
    assert (event["environment"], event["release"]) == ("staging", "chs@1.2.3")
    assert "user" not in event or "ip_address" not in event["user"]
