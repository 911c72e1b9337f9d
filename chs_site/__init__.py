"""The project: settings, URLs, the Celery app and what every app shares.

Two kinds of modules live here. Helpers below all three apps, which import none of them:
errors, api_errors and api_docs, parsing, formatting, charts, sql, http, startup,
benchmarks. And the top, which wires the apps together: urls and api_urls, views
(/healthz and error pages), navigation, wsgi, and the commands that run every app
(``seed_demo``, ``bench``)."""

from __future__ import annotations

from chs_site.celery import app as celery_app

__all__ = ["celery_app"]
