"""Connector credentials, encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256).

The key comes from ``settings.CONNECTOR_SECRET_KEY`` (the environment): one key, or several
separated by commas while rotating (the first encrypts, any of them decrypts). A
credential is decrypted only in the worker that calls the vendor; pages show
``Connector.credential_hint`` ("•••• last 4") and the audit log only that it changed."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from chs_site.errors import ApplicationError

HINT_LENGTH = 4


def _fernet() -> MultiFernet:
    keys = [k.strip() for k in settings.CONNECTOR_SECRET_KEY.split(",") if k.strip()]
    if not keys:
        raise ImproperlyConfigured(
            "CONNECTOR_SECRET_KEY is not set: connectors cannot store credentials. Generate one"
            " with python -c 'from cryptography.fernet import Fernet;"
            " print(Fernet.generate_key().decode())'."
        )
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(
            "CONNECTOR_SECRET_KEY must be 32 url-safe base64-encoded bytes (Fernet.generate_key())."
        ) from exc


def encrypt(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ApplicationError(
            "The stored credential cannot be decrypted with CONNECTOR_SECRET_KEY (was the key"
            " changed?). Enter the credential again."
        ) from exc


def last4(secret: str) -> str:
    """What pages show of a secret: its last four characters, none of a short one."""
    return secret[-HINT_LENGTH:] if len(secret) >= 3 * HINT_LENGTH else ""


def check_key_configured() -> str | None:
    """Why credentials cannot be stored, or None when the key is usable."""
    try:
        _fernet()
    except ImproperlyConfigured as exc:
        return str(exc)
    return None
