"""The Celery app. Configured from Django settings (``CELERY_*``).

Without ``CELERY_BROKER_URL`` tasks run eagerly in the calling process (the embedded
default); with it, real workers consume them from Redis. PostgreSQL holds the truth (dirty
markers, import jobs, run logs), so a lost message only delays work until the next sweep.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chs_site.settings")

app = Celery("chs")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="chs.ping")
def ping() -> str:
    return "pong"
