"""What the web and worker processes load: never a benchmark, demo data or synthetic data.

import-linter (``make lint``) checks the import statements; these tests check the modules
a real process ends up with, each started fresh as in production (``DEBUG=0``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

PROJECT_PACKAGES = ("accounts", "scoring", "playbooks", "chs_site")

# What gunicorn does with chs_site.wsgi:application, and what `celery -A chs_site worker`
# does before taking tasks: every app's tasks module, then the finalized app.
STARTUP = {
    "web": "from chs_site.wsgi import application",
    "worker": "\n".join(
        [
            "from chs_site.celery import app",
            "app.loader.import_default_modules()",
            "app.finalize()",
        ]
    ),
}
# A module each process must have loaded, so a startup that loads nothing cannot pass.
EXPECTED = {"web": "scoring.views", "worker": "playbooks.tasks"}


def is_offline_module(name: str) -> bool:
    """A benchmark, demo-data or synthetic-data module of this project."""
    if name.split(".")[0] not in PROJECT_PACKAGES:
        return False
    return (
        name.endswith(".bench")
        or ".bench." in name
        or name in ("chs_site.benchmarks", "chs_site.bench_pages", "chs_site.bench_load")
        or name.endswith((".demo", ".demo_outcomes", ".synthetic"))
    )


def loaded_modules(process: str) -> list[str]:
    code = STARTUP[process] + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chs_site.settings",
        "DEBUG": "0",
        "CHS_TESTING": "0",
        "SECRET_KEY": "a-key-for-the-process-test-only",
    }
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return list(json.loads(result.stdout.splitlines()[-1]))


@pytest.mark.parametrize("process", ["web", "worker"])
def test_web_and_worker_processes_load_no_bench_demo_or_synthetic_module(process: str) -> None:
    loaded = loaded_modules(process)
    assert EXPECTED[process] in loaded
    assert [m for m in loaded if is_offline_module(m)] == []


def test_the_offline_module_names_cover_every_bench_demo_and_synthetic_module() -> None:
    assert all(
        is_offline_module(m)
        for m in (
            "scoring.bench",
            "scoring.bench.recompute",
            "playbooks.bench",
            "chs_site.benchmarks",
            "chs_site.bench_pages",
            "chs_site.bench_load",
            "accounts.demo",
            "scoring.demo_outcomes",
            "scoring.synthetic",
        )
    )
    assert not any(
        is_offline_module(m)
        for m in ("scoring.services.recompute", "chs_site.celery", "numpy.random")
    )
