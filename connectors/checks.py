"""``manage.py check --deploy``: production needs its own key for connector credentials."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, register

from connectors.credentials import check_key_configured


@register(Tags.security, deploy=True)
def connector_secret_key(app_configs: Any, **kwargs: Any) -> list[Error]:
    problem = check_key_configured()
    if problem is None and settings.CONNECTOR_SECRET_KEY == settings.CONNECTOR_DEV_SECRET_KEY:
        problem = "CONNECTOR_SECRET_KEY is the development key, which is public."
    if problem is None:
        return []
    return [
        Error(problem, hint="Set CONNECTOR_SECRET_KEY in the environment.", id="connectors.E001")
    ]
