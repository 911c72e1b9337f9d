from __future__ import annotations

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts import audit_hooks
        from accounts.imports.accounts import register_importer

        register_importer()
        audit_hooks.connect()
