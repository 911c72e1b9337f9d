"""Optional error reporting to Sentry (or anything that speaks its protocol, such as
GlitchTip): unhandled exceptions in views and Celery tasks, with the environment and the
release they happened in. Off unless settings call ``init_error_reporting`` with a DSN."""

from __future__ import annotations

import sentry_sdk
from sentry_sdk.integrations.celery import CeleryIntegration
from sentry_sdk.integrations.django import DjangoIntegration


def init_error_reporting(
    *, dsn: str, environment: str, release: str | None, traces_sample_rate: float
) -> None:
    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release,
        # No user names, emails, IP addresses, cookies or request bodies leave CHS.
        send_default_pii=False,
        traces_sample_rate=traces_sample_rate,
        integrations=[DjangoIntegration(), CeleryIntegration()],
    )
