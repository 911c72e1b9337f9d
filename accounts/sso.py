"""Single sign-on through OpenID Connect: mozilla-django-oidc's backend and views, with the
provider's endpoints read from its discovery document, users created and given a role by
``accounts.services.sso``, and every failure sent back to the login page with a reason.

All of it is off (its URLs answer 404) unless ``OIDC_RP_CLIENT_ID`` is set."""

from __future__ import annotations

import logging
from typing import Any

import jwt
import requests
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect
from django.views import View
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from accounts.models import User
from accounts.services.sso import create_sso_user, update_sso_user
from chs_site.errors import ApplicationError

logger = logging.getLogger("chs.signin")

# Each endpoint setting and its name in the provider's discovery document.
DISCOVERY_KEYS = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
}
_discovered: dict[str, dict[str, Any]] = {}


class SSOUnavailable(Exception):
    """The identity provider cannot be used right now; the message says what failed."""


def discovery_document(issuer: str) -> dict[str, Any]:
    """The provider's ``/.well-known/openid-configuration``, read once per process."""
    if issuer not in _discovered:
        url = f"{issuer}/.well-known/openid-configuration"
        try:
            response = requests.get(url, timeout=settings.OIDC_TIMEOUT)
            response.raise_for_status()
            document = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise SSOUnavailable(
                f"the identity provider's discovery document ({url}) could not be read: "
                f"{exc.__class__.__name__}"
            ) from exc
        if not isinstance(document, dict):
            raise SSOUnavailable(f"{url} is not an OpenID Connect discovery document")
        _discovered[issuer] = document
    return _discovered[issuer]


def endpoint(setting: str) -> str:
    """The URL of one provider endpoint: its own setting when set, else discovery's."""
    explicit = str(getattr(settings, setting, ""))
    if explicit:
        return explicit
    value = discovery_document(settings.OIDC_OP_ISSUER).get(DISCOVERY_KEYS[setting])
    if not isinstance(value, str) or not value:
        raise SSOUnavailable(
            f"the provider's discovery document names no {DISCOVERY_KEYS[setting]}"
        )
    return value


class OIDCBackend(OIDCAuthenticationBackend):
    """Signs in the person an SSO callback names: matched by email (case-insensitive),
    created on the first sign-in, role from the provider's claim. Endpoints are looked up
    when a sign-in needs them, not each time a request loads its signed-in user."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.UserModel = get_user_model()

    @property
    def OIDC_OP_TOKEN_ENDPOINT(self) -> str:  # noqa: N802 (the name the library reads)
        return endpoint("OIDC_OP_TOKEN_ENDPOINT")

    @property
    def OIDC_OP_USER_ENDPOINT(self) -> str:  # noqa: N802
        return endpoint("OIDC_OP_USER_ENDPOINT")

    @property
    def OIDC_OP_JWKS_ENDPOINT(self) -> str:  # noqa: N802
        return endpoint("OIDC_OP_JWKS_ENDPOINT")

    @property
    def OIDC_RP_CLIENT_ID(self) -> str:  # noqa: N802
        return str(settings.OIDC_RP_CLIENT_ID)

    @property
    def OIDC_RP_CLIENT_SECRET(self) -> str:  # noqa: N802
        return str(settings.OIDC_RP_CLIENT_SECRET)

    @property
    def OIDC_RP_SIGN_ALGO(self) -> str:  # noqa: N802
        return str(settings.OIDC_RP_SIGN_ALGO)

    OIDC_RP_IDP_SIGN_KEY = None

    def retrieve_matching_jwk(self, token: str | bytes) -> jwt.PyJWK:
        """The provider's key that signed ``token``. A provider with one signing key may
        leave the key id out of its tokens (RFC 7515, 4.1.4): then its one key for that
        algorithm is the key, and two or more are refused."""
        header = jwt.get_unverified_header(token)
        if "kid" in header:
            key: jwt.PyJWK = super().retrieve_matching_jwk(token)
            return key
        response = requests.get(self.OIDC_OP_JWKS_ENDPOINT, timeout=settings.OIDC_TIMEOUT)
        response.raise_for_status()
        candidates = [
            jwk
            for jwk in response.json().get("keys", [])
            if jwk.get("use", "sig") == "sig"
            and jwk.get("alg", header.get("alg")) == header.get("alg")
        ]
        if len(candidates) != 1:
            raise SuspiciousOperation(
                "The ID token names no key id and the provider has several keys."
            )
        return jwt.PyJWK(candidates[0])

    def authenticate(self, request: HttpRequest | None, **kwargs: Any) -> User | None:
        if not settings.SSO_ENABLED:
            return None
        return super().authenticate(request, **kwargs)

    def verify_claims(self, claims: dict[str, Any]) -> bool:
        return isinstance(claims.get("email"), str)

    def create_user(self, claims: dict[str, Any]) -> User:
        return self._refusing_on_error(
            lambda: create_sso_user(
                claims=claims,
                role_claim=settings.OIDC_ROLE_CLAIM,
                role_map=settings.OIDC_ROLE_MAP,
            )
        )

    def update_user(self, user: User, claims: dict[str, Any]) -> User:
        return self._refusing_on_error(
            lambda: update_sso_user(
                user=user,
                claims=claims,
                role_claim=settings.OIDC_ROLE_CLAIM,
                role_map=settings.OIDC_ROLE_MAP,
            )
        )

    def _refusing_on_error(self, sign_in: Any) -> User:
        """Run ``sign_in``; a refusal is kept on the request for the login page and ends the
        sign-in the way the library expects (SuspiciousOperation: no user)."""
        try:
            user: User = sign_in()
        except ApplicationError as exc:
            self.request.sso_refusal = exc.message  # type: ignore[attr-defined]
            raise SuspiciousOperation(exc.message) from exc
        return user


def _back_to_login(request: HttpRequest, reason: str) -> HttpResponse:
    messages.error(request, f"Single sign-on did not sign you in: {reason}")
    return redirect(settings.LOGIN_URL)


class _StartView(OIDCAuthenticationRequestView):
    def __init__(self, **kwargs: Any) -> None:
        View.__init__(self, **kwargs)
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        self.OIDC_OP_AUTH_ENDPOINT = endpoint("OIDC_OP_AUTHORIZATION_ENDPOINT")


class _CallbackView(OIDCAuthenticationCallbackView):
    def login_failure(self) -> HttpResponse:
        request = self.request
        if reason := getattr(request, "sso_refusal", ""):
            pass
        elif error := request.GET.get("error"):
            described = request.GET.get("error_description") or error
            reason = f"the identity provider refused ({described[:200]})."
        elif getattr(self, "user", None) is not None and not self.user.is_active:
            reason = "your CHS user is deactivated; ask an admin."
        else:
            reason = "the sign-in expired or was started in another browser; try again."
        logger.warning(
            "SSO sign-in failed: %s",
            reason,
            extra={"event": "signin_failed", "method": "sso", "reason": reason},
        )
        return _back_to_login(request, reason)


def sso_start(request: HttpRequest) -> HttpResponseBase:
    """Send the browser to the identity provider (``?next=`` is where to land after)."""
    if not settings.SSO_ENABLED:
        raise Http404
    try:
        return _StartView.as_view()(request)
    except SSOUnavailable as exc:
        logger.error("SSO unavailable: %s", exc, extra={"event": "sso_unavailable"})
        return _back_to_login(request, f"{exc}. Try again later, or ask an admin.")


def sso_callback(request: HttpRequest) -> HttpResponseBase:
    """Where the identity provider sends the browser back: exchange the code, sign in."""
    if not settings.SSO_ENABLED:
        raise Http404
    try:
        return _CallbackView.as_view()(request)
    except (SSOUnavailable, requests.RequestException) as exc:
        logger.error("SSO callback failed: %s", exc, extra={"event": "sso_unavailable"})
        return _back_to_login(request, "the identity provider could not be reached; try again.")
    except SuspiciousOperation as exc:  # a state this browser never sent, a token that fails
        logger.warning("SSO callback refused: %s", exc, extra={"event": "signin_failed"})
        return _back_to_login(
            request, "the answer from the identity provider could not be verified; try again."
        )
