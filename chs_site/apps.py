from __future__ import annotations

from django.apps import AppConfig


class ChsSiteConfig(AppConfig):
    name = "chs_site"
    verbose_name = "CHS site"

    def ready(self) -> None:
        from chs_site import checks  # noqa: F401  (registers the deploy checks)
