"""The Celery app. Configured from Django settings (``CELERY_*``).

Without ``CELERY_BROKER_URL`` tasks run eagerly in the calling process (the embedded
default); with it, real workers consume them from Redis. PostgreSQL holds the truth (dirty
markers, import jobs, run logs), so a lost message only delays work until the next sweep.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from typing import Any

from celery import Celery
from django.db import InterfaceError, OperationalError, transaction
from kombu.exceptions import OperationalError as KombuOperationalError
from redis import RedisError

log = logging.getLogger(__name__)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chs_site.settings")

app = Celery("chs")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="chs.ping")
def ping() -> str:
    return "pong"


def runs_in_process() -> bool:
    """Tasks run eagerly in the calling process (no broker: the embedded default)."""
    return bool(app.conf.task_always_eager)


# Tasks retry only what a retry can cure: the database connection dropping or being
# refused (a restart, a failover). Anything else is a bug or bad data and must surface.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (OperationalError, InterfaceError)
RETRY_TRANSIENT: dict[str, Any] = {
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": True,
    "retry_backoff_max": 60,
    "max_retries": 5,
}


# What sending a message raises when the broker is away.
BROKER_ERRORS: tuple[type[Exception], ...] = (KombuOperationalError, RedisError, OSError)
# One quick retry rides out a blip without holding a web request for seconds.
_QUICK_RETRY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2}


def send_on_commit(task: Any, *args: Any) -> None:
    """Send ``task(*args)`` once the current transaction commits. A broker that is down is
    logged, not raised: the row that asked for the work is committed, and each caller's
    safety net serves it (an import job's "send again", the hourly refit, the sweeps)."""

    def send() -> None:
        try:
            task.apply_async(args=args, retry=True, retry_policy=_QUICK_RETRY)
        except BROKER_ERRORS:
            log.warning("could not send %s%r; the broker is down", task.name, args, exc_info=True)

    transaction.on_commit(send)


def nudge_by_name(names: Iterable[str]) -> None:
    """Ask each task in ``names`` (by name: the caller never imports the app above it) to
    run now, with no arguments. Eager (no broker): it runs here and now. With a broker, a
    failed send is logged and left to the task's beat sweep: what it serves is in
    PostgreSQL, so nothing is lost."""
    for name in names:
        if app.conf.task_always_eager:
            if name not in app.tasks:
                app.loader.import_default_modules()  # registers every app's tasks by name
            app.tasks[name].apply()
            continue
        try:
            app.send_task(name, retry=False)
        except BROKER_ERRORS:
            log.warning("could not nudge %s; its beat sweep will run it", name)
