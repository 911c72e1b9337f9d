"""Settings come from the environment and fail fast with a clear message."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from chs_site.settings import database_from_url, env_bool, env_int, env_list

ROOT = Path(__file__).resolve().parents[2]


def run_settings(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Import the settings in a fresh interpreter with exactly ``env`` (plus PATH)."""
    clean = {"PATH": os.environ["PATH"], "CHS_TESTING": "0", **env}
    code = "import django; django.setup(); from django.conf import settings; print(settings.DATABASES['default']['ENGINE'], settings.CELERY_TASK_ALWAYS_EAGER)"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "chs_site.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_missing_secret_key_without_debug_is_a_clear_error() -> None:
    result = run_settings({"DEBUG": "0"})
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_debug_runs_without_secret_key_on_sqlite_and_eager_tasks() -> None:
    result = run_settings({"DEBUG": "1"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.sqlite3", "True"]


def test_broker_url_switches_to_real_workers() -> None:
    result = run_settings(
        {
            "SECRET_KEY": "x" * 50,
            "DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/chs",
            "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
        }
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.postgresql", "False"]


def test_unsupported_database_url_is_refused() -> None:
    result = run_settings({"DEBUG": "1", "DATABASE_URL": "mysql://root@localhost/chs"})
    assert result.returncode != 0
    assert "DATABASE_URL must start with sqlite:/// or postgresql://" in result.stderr


def test_bad_boolean_names_the_variable() -> None:
    result = run_settings({"DEBUG": "maybe"})
    assert result.returncode != 0
    assert "DEBUG must be one of" in result.stderr


def test_today_thresholds_must_be_above_zero() -> None:
    result = run_settings({"DEBUG": "1", "TODAY_RENEWAL_DAYS": "0"})
    assert result.returncode != 0
    assert "TODAY_RENEWAL_DAYS must be above 0" in result.stderr
    assert run_settings({"DEBUG": "1", "TODAY_DROP_POINTS": "7.5"}).returncode == 0


def test_database_url_parsing() -> None:
    pg = database_from_url("postgresql://chs:p%40ss@db.internal:6543/health")
    assert pg["ENGINE"] == "django.db.backends.postgresql"
    assert (pg["USER"], pg["PASSWORD"], pg["HOST"], pg["PORT"], pg["NAME"]) == (
        "chs",
        "p@ss",
        "db.internal",
        6543,
        "health",
    )
    lite = database_from_url("sqlite:////tmp/chs-test.sqlite3")
    assert lite["ENGINE"] == "django.db.backends.sqlite3"
    assert lite["NAME"] == "/tmp/chs-test.sqlite3"


def test_env_helpers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_BOOL", "yes")
    monkeypatch.setenv("X_INT", "12")
    monkeypatch.setenv("X_LIST", "a.example, b.example,,")
    assert env_bool("X_BOOL") is True
    assert env_int("X_INT", 3) == 12
    assert env_list("X_LIST", []) == ["a.example", "b.example"]
    assert env_bool("X_MISSING", default=True) is True
    monkeypatch.setenv("X_INT", "twelve")
    with pytest.raises(ImproperlyConfigured, match="X_INT must be a whole number"):
        env_int("X_INT", 3)


# --- HTTPS and browser security ----------------------------------------------------------

PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "k3y-" + "x7Q" * 20,
    "ALLOWED_HOSTS": "chs.example.com",
    "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
    "SECURE_HSTS_PRELOAD": "1",
    "ENCRYPTION_KEY": "cHJvZHVjdGlvbi1lbmNyeXB0aW9uLWtleS0zMmJ5dGU=",
}


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter with Django set up from exactly ``env`` (plus PATH)."""
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()\n" + code],
        cwd=ROOT,
        env={
            "PATH": os.environ["PATH"],
            "CHS_TESTING": "0",
            "DJANGO_SETTINGS_MODULE": "chs_site.settings",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_deploy_check_reports_nothing_in_a_production_environment() -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], "CHS_TESTING": "0", **PRODUCTION},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_deploy_check_refuses_a_missing_or_public_encryption_key() -> None:
    for key, reason in (("", "ENCRYPTION_KEY is not set"), (None, "the development key")):
        env = {"PATH": os.environ["PATH"], "CHS_TESTING": "0", **PRODUCTION}
        if key is None:  # the public development key, given on purpose
            from django.conf import settings

            env["ENCRYPTION_KEY"] = settings.ENCRYPTION_DEV_KEY
        else:
            env["ENCRYPTION_KEY"] = key
        result = subprocess.run(
            [sys.executable, "manage.py", "check", "--deploy"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode != 0 and "chs_site.E001" in result.stderr + result.stdout
        assert reason in result.stderr + result.stdout


def test_production_defaults_are_https_only() -> None:
    code = """
import json
from django.conf import settings as s
print(json.dumps([s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SESSION_COOKIE_SECURE,
    s.CSRF_COOKIE_SECURE, s.SECURE_CONTENT_TYPE_NOSNIFF, s.SECURE_REFERRER_POLICY,
    s.SECURE_PROXY_SSL_HEADER, s.LOG_FORMAT]))
"""
    result = run_python(code, {"DEBUG": "0", "SECRET_KEY": "x" * 50})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        True,
        365 * 24 * 3600,
        True,
        True,
        True,
        "same-origin",
        None,  # a client-sent header is trusted only when the operator names it
        "json",
    ]


def request_in_fresh_process(env: dict[str, str], path: str, **headers: str) -> dict[str, object]:
    """Status, Location and Strict-Transport-Security of ``GET path`` over plain HTTP through
    Django's whole handler, in a process whose settings come from ``env``."""
    code = f"""
import json
from django.test import Client
response = Client().get({path!r}, headers={headers!r})
print(json.dumps([response.status_code, response.get("Location"),
    response.get("Strict-Transport-Security")]))
"""
    result = run_python(code, env)
    assert result.returncode == 0, result.stderr
    status, location, hsts = json.loads(result.stdout.splitlines()[-1])
    return {"status": status, "location": location, "hsts": hsts}


def test_production_redirects_plain_http_but_not_the_health_check() -> None:
    env = {"DEBUG": "0", "SECRET_KEY": "x" * 50, "ALLOWED_HOSTS": "testserver"}
    assert request_in_fresh_process(env, "/login/") == {
        "status": 301,
        "location": "https://testserver/login/",
        "hsts": None,  # HSTS only on HTTPS answers
    }
    assert request_in_fresh_process(env, "/healthz")["status"] == 200


def test_behind_a_tls_proxy_the_forwarded_scheme_counts_and_hsts_is_sent() -> None:
    env = {**PRODUCTION, "ALLOWED_HOSTS": "testserver"}
    answer = request_in_fresh_process(env, "/healthz", X_Forwarded_Proto="https")
    assert answer["status"] == 200
    assert answer["hsts"] == "max-age=31536000; includeSubDomains; preload"


def test_debug_and_local_serving_work_on_plain_http() -> None:
    assert request_in_fresh_process({"DEBUG": "1"}, "/login/")["status"] == 200
    local = {"DEBUG": "0", "SECRET_KEY": "x" * 50, "SECURE_SSL_REDIRECT": "0"}
    assert request_in_fresh_process(local, "/healthz")["status"] == 200
