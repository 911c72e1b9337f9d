"""Settings come from the environment and fail fast with a clear message."""

from __future__ import annotations

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
