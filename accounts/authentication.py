"""API authentication: ``Authorization: Token <key>`` (and, for the endpoints that take
Segment's messages, HTTP Basic with the key as user name), token scopes and per-token
throttling.

A token acts with its user's role (what it may see is ``visible_accounts(user)``), narrowed
by its scope:

- ``read``: safe methods (GET, HEAD, OPTIONS) only;
- ``ingest``: only the endpoints that take data in (views with ``ingest_endpoint = True``:
  accounts, metrics, feedback, outcomes, Segment messages) and no reads, not even of what it wrote: its
  writes answer 204 without a body (``is_ingest_key``), the metrics ingest its count;
- ``write``: everything its user's role allows.

A browser session is not narrowed by a scope.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions, throttling
from rest_framework.request import Request

from accounts.models import ApiToken, User
from accounts.selectors.tokens import api_token_for_key
from accounts.services.tokens import touch_api_token


class TokenAuthentication(authentication.BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request: Request) -> tuple[User, ApiToken] | None:
        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(
                "Malformed Authorization header; send 'Authorization: Token <key>'."
            )
        try:
            key = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(
                "The API key contains invalid characters."
            ) from None
        return authenticate_key(key)

    def authenticate_header(self, request: Request) -> str:
        # Makes DRF answer 401 (not 403) to a request without credentials.
        return self.keyword


def authenticate_key(key: str) -> tuple[User, ApiToken]:
    """The user and token of an API key, or AuthenticationFailed saying what is wrong."""
    token = api_token_for_key(key)
    if token is None:
        raise exceptions.AuthenticationFailed("Unknown API key.")
    if token.revoked_at is not None:
        raise exceptions.AuthenticationFailed(
            f"This API key was revoked on {token.revoked_at:%Y-%m-%d}; ask an admin for a new one."
        )
    if not token.user.is_active:
        raise exceptions.AuthenticationFailed("The API key's user is deactivated.")
    touch_api_token(token=token, now=timezone.now())
    return token.user, token


class KeyBasicAuthentication(authentication.BaseAuthentication):
    """HTTP Basic with the API key as the user name and an empty password: how Segment's
    libraries and its webhook destination send a write key. Only the endpoints that take
    Segment's messages accept it (``authentication_classes``)."""

    def authenticate(self, request: Request) -> tuple[User, ApiToken] | None:
        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].lower() != b"basic":
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(
                "Malformed Authorization header; send 'Authorization: Basic <base64 of key:>'."
            )
        try:
            user_name, _, password = (
                base64.b64decode(parts[1], validate=True).decode("ascii").partition(":")
            )
        except (binascii.Error, UnicodeDecodeError):
            raise exceptions.AuthenticationFailed(
                "The Basic credentials are not base64 of 'key:' (the API key, a colon, no password)."
            ) from None
        if password:
            raise exceptions.AuthenticationFailed(
                "Send the API key as the Basic user name with an empty password."
            )
        return authenticate_key(user_name)

    def authenticate_header(self, request: Request) -> str:
        return 'Basic realm="CHS"'


class TokenScopePermission(permissions.BasePermission):
    message = "This API key's scope does not allow this request."

    def has_permission(self, request: Request, view: Any) -> bool:
        token = request.auth
        if not isinstance(token, ApiToken):
            return True
        scope = token.scope
        if request.method in permissions.SAFE_METHODS:
            if scope in (ApiToken.Scope.READ, ApiToken.Scope.WRITE):
                return True
            self.message = (
                "This API key has the 'ingest' scope, which can only send data; "
                "use a key with the 'read' or 'write' scope to read."
            )
            return False
        if scope == ApiToken.Scope.WRITE:
            return True
        if scope == ApiToken.Scope.INGEST and getattr(view, "ingest_endpoint", False):
            return True
        self.message = (
            f"This API key has the '{scope}' scope, which cannot change this resource; "
            "use a key with the 'write' scope."
        )
        return False


class AdminsOnly(permissions.BasePermission):
    """An admins-only endpoint (the audit log, webhooks) does not exist for anyone else:
    404, like any page outside a person's scope."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if not getattr(request.user, "is_admin", False):
            raise exceptions.NotFound("Not found.")
        return True


class PerTokenThrottle(throttling.SimpleRateThrottle):
    """One budget per API key (per user for browser sessions, per address otherwise)."""

    scope = "token"

    def get_cache_key(self, request: Request, view: Any) -> str:
        if isinstance(request.auth, ApiToken):
            ident = f"key-{request.auth.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = f"addr-{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class KeyBasicAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.KeyBasicAuthentication"
    name = "keyBasicAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "basic",
            "description": "The API key as the user name, an empty password (Segment's write key).",
        }


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": (
                "`Token <key>`. Create a key with `python manage.py create_api_token USERNAME "
                "--scope ingest|read|write` or on the API tokens page (admins)."
            ),
        }


def is_ingest_key(request: Request) -> bool:
    """The request carries an ingest-scope key: a write answers 204 with no body, because
    the resource it wrote (a score, an ARR, an owner) is a read the key may not make."""
    token = request.auth
    return isinstance(token, ApiToken) and token.scope == ApiToken.Scope.INGEST


def api_user(request: Request) -> User:
    """The signed-in user of an API request (IsAuthenticated has already run)."""
    user = request.user
    assert isinstance(user, User), "API views run after IsAuthenticated"
    return user
