from __future__ import annotations

from django.apps import AppConfig


class BiConfig(AppConfig):
    name = "bi"
    verbose_name = "BI views"
    default_auto_field = "django.db.models.BigAutoField"
