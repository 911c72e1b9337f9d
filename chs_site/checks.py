"""``manage.py check --deploy``: checks of the project's own settings."""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, Tags, register

from chs_site.secrets import key_problem


@register(Tags.security, deploy=True)
def encryption_key(app_configs: Any, **kwargs: Any) -> list[Error]:
    problem = key_problem()
    if problem is None:
        return []
    return [Error(problem, hint="Set ENCRYPTION_KEY in the environment.", id="chs_site.E001")]
