"""The Celery app. Configured from Django settings (``CELERY_*``).

Without ``CELERY_BROKER_URL`` tasks run eagerly in the calling process (the embedded
default); with it, real workers consume them from Redis. PostgreSQL holds the truth (dirty
markers, import jobs, run logs), so a lost message only delays work until the next sweep.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from django.db import InterfaceError, OperationalError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chs_site.settings")

app = Celery("chs")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="chs.ping")
def ping() -> str:
    return "pong"


# Tasks retry only what a retry can cure: the database connection dropping or being
# refused (a restart, a failover). Anything else is a bug or bad data and must surface.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (OperationalError, InterfaceError)
RETRY_TRANSIENT: dict[str, Any] = {
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": True,
    "retry_backoff_max": 60,
    "max_retries": 5,
}
