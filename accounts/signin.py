"""Signing in: the login page (password, or single sign-on when configured), the page a
locked-out sign-in gets, the password change and reset pages, and the sign-in log.

Throttling is django-axes' (settings ``AXES_*``); this module only says how a lockout looks.
Each sign-in, failed sign-in and lockout is logged on ``chs.signin`` with ``extra`` fields
(``event``, ``username``, ``ip``, ``method``) for whatever records them."""

from __future__ import annotations

import logging
from typing import Any

from axes.helpers import get_client_ip_address
from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse_lazy

from accounts.forms import LoginForm, SSOAwarePasswordResetForm
from accounts.models import User
from accounts.services.audit import Action, ObjectType, record_audit

logger = logging.getLogger("chs.signin")


def _sso_context() -> dict[str, Any]:
    return {"sso_enabled": settings.SSO_ENABLED, "sso_label": settings.SSO_BUTTON_LABEL}


class SignInView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {**super().get_context_data(**kwargs), **_sso_context()}


def cooloff_minutes() -> int:
    return max(1, round(settings.AXES_COOLOFF_TIME.total_seconds() / 60))


def locked_out_response(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict[str, Any] | None = None,
) -> HttpResponse:
    """What django-axes answers a sign-in it refused (``AXES_LOCKOUT_CALLABLE``): the login
    page again, saying why and for how long, with 429 Too Many Requests."""
    username = str((credentials or {}).get("username") or request.POST.get("username", ""))
    context = {
        "form": LoginForm(request, initial={"username": username[:150]}),
        "next": request.POST.get("next", request.GET.get("next", "")),
        "locked_out_minutes": cooloff_minutes(),
        **_sso_context(),
    }
    return render(request, "accounts/login.html", context, status=429)


# --- password change and reset (Django's views, CHS's pages) ---------------------------


def _audit_password_set(user: User) -> None:
    """A password set by its owner (changed, or reset from an emailed link) goes into the
    audit log as the owner's act; the secret itself never does."""
    record_audit(
        action=Action.PASSWORD_CHANGED,
        object_type=ObjectType.USER,
        obj=user,
        actor=user,
        changes={"password": ["old", "new"]},  # masked: the log says only that it changed
    )


class _AuditsPasswordSet:
    """For Django's password views: a valid form (the password is saved) is audited."""

    def form_valid(self, form: Any) -> HttpResponse:
        response: HttpResponse = super().form_valid(form)  # type: ignore[misc]
        _audit_password_set(form.user)
        return response


class _PasswordChangeView(_AuditsPasswordSet, auth_views.PasswordChangeView):
    pass


class _PasswordResetConfirmView(_AuditsPasswordSet, auth_views.PasswordResetConfirmView):
    pass


password_change = _PasswordChangeView.as_view(
    template_name="accounts/password_change.html",
    success_url=reverse_lazy("accounts:password_change_done"),
)
password_change_done = auth_views.PasswordChangeDoneView.as_view(
    template_name="accounts/password_done.html",
    extra_context={
        "title": "Password changed",
        "message": "Your password is changed. Your other sessions were signed out.",
    },
)
password_reset = auth_views.PasswordResetView.as_view(
    template_name="accounts/password_reset.html",
    form_class=SSOAwarePasswordResetForm,
    email_template_name="accounts/email/password_reset.txt",
    subject_template_name="accounts/email/password_reset_subject.txt",
    success_url=reverse_lazy("accounts:password_reset_sent"),
)
password_reset_sent = auth_views.PasswordResetDoneView.as_view(
    template_name="accounts/password_done.html",
    extra_context={
        "title": "Check your email",
        "message": (
            "If a CHS user has that address, we have sent it a link to choose a new password. "
            "The link works once. No email within a few minutes? Check the spam folder, "
            "or ask an admin."
        ),
    },
)
password_reset_confirm = _PasswordResetConfirmView.as_view(
    template_name="accounts/password_reset_confirm.html",
    success_url=reverse_lazy("accounts:password_reset_complete"),
)
password_reset_complete = auth_views.PasswordResetCompleteView.as_view(
    template_name="accounts/password_done.html",
    extra_context={
        "title": "Password set",
        "message": "Your new password is set. Log in with it.",
        "login_link": True,
    },
)


# --- the sign-in log (connected in AccountsConfig.ready) -------------------------------


def _ip(request: HttpRequest | None) -> str:
    if request is None:
        return ""
    return get_client_ip_address(request) or ""


def log_signed_in(sender: object, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    method = "sso" if str(getattr(user, "backend", "")).endswith("OIDCBackend") else "password"
    ip = _ip(request)
    logger.info(
        "sign-in: %s (%s) from %s",
        user.get_username(),
        method,
        ip,
        extra={"event": "signin", "username": user.get_username(), "ip": ip, "method": method},
    )


def log_failed_sign_in(
    sender: object, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    username = str(credentials.get("username", ""))[:150]
    if not username:  # an SSO callback that failed: chs.signin logged it with its reason
        return
    ip = _ip(request)
    logger.warning(
        "failed sign-in: %r from %s",
        username,
        ip,
        extra={"event": "signin_failed", "username": username, "ip": ip, "method": "password"},
    )


def log_locked_out(
    sender: object, request: HttpRequest, username: str | None, ip_address: str, **kwargs: Any
) -> None:
    logger.warning(
        "sign-in locked out for %d minutes: %r from %s",
        cooloff_minutes(),
        username or "",
        ip_address,
        extra={"event": "signin_locked_out", "username": username or "", "ip": ip_address},
    )
