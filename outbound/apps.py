from __future__ import annotations

from django.apps import AppConfig


class OutboundConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "outbound"
    verbose_name = "Outbound webhooks"
