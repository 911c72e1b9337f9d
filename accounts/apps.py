from __future__ import annotations

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from axes.signals import user_locked_out
        from django.contrib.auth.signals import user_logged_in, user_login_failed

        from accounts import audit_hooks
        from accounts.imports.accounts import register_importer
        from accounts.signin import log_failed_sign_in, log_locked_out, log_signed_in

        register_importer()
        audit_hooks.connect()
        # The sign-in log: observation only, nothing is written.
        user_logged_in.connect(log_signed_in, dispatch_uid="chs-signin-log")
        user_login_failed.connect(log_failed_sign_in, dispatch_uid="chs-signin-failed-log")
        user_locked_out.connect(log_locked_out, dispatch_uid="chs-signin-lockout-log")
