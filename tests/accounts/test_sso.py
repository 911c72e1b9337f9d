"""Single sign-on end to end: a real OpenID Connect provider (oidc-provider-mock, a Flask
app on a loopback thread) and CHS's real views and backend. Each sign-in goes the whole
way: CHS redirects to the provider, the provider authorizes and redirects back with a code,
CHS exchanges it for tokens (checking the ID token's signature against the provider's
keys), reads userinfo, creates or matches the user and opens a session."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import requests
from django.test import Client

from accounts.models import Role, User
from accounts.services.sso import role_from_claims
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-enough-passphrase"


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    with warnings.catch_warnings():  # it imports authlib modules authlib deprecates
        import authlib.deprecate  # sets its own "always" filter when first imported

        warnings.simplefilter("ignore", authlib.deprecate.AuthlibDeprecationWarning)
        import oidc_provider_mock

    with oidc_provider_mock.run_server_in_thread() as server:
        yield f"http://localhost:{server.server_port}"


@pytest.fixture
def sso(settings: Any, provider: str) -> str:
    """SSO on, endpoints from the provider's discovery document."""
    settings.SSO_ENABLED = True
    settings.OIDC_RP_CLIENT_ID = "chs"
    settings.OIDC_RP_CLIENT_SECRET = "chs-secret"
    settings.OIDC_OP_ISSUER = provider
    return provider


def person(provider: str, email: str, **claims: object) -> str:
    """Tell the provider who ``email`` is (the claims it releases); returns the subject."""
    response = requests.put(
        f"{provider}/users/{quote(email)}",
        json={"email": email, "email_verified": True, **claims},  # type: ignore[dict-item]
        timeout=5,
    )
    assert response.status_code == 204
    return email


def sign_in_through_provider(client: Client, subject: str, *, next_url: str = "") -> Any:
    """Click "Sign in with SSO", authorize ``subject`` at the provider, follow its redirect
    back to CHS; returns CHS's answer to the callback."""
    start = client.get("/sso/start/" + (f"?next={next_url}" if next_url else ""))
    assert start.status_code == 302, start.content
    authorize_url = start["Location"]
    query = parse_qs(urlsplit(authorize_url).query)
    assert query["client_id"] == ["chs"]
    assert query["redirect_uri"] == ["http://testserver/sso/callback/"]
    assert "code_challenge" in query  # PKCE
    authorized = requests.post(
        authorize_url, data={"sub": subject}, allow_redirects=False, timeout=5
    )
    assert authorized.status_code == 302, authorized.text[:500]
    back = urlsplit(authorized.headers["Location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == "http://testserver/sso/callback/"
    return client.get(f"{back.path}?{back.query}")


def signed_in_user(client: Client) -> User | None:
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id) if user_id else None


def test_first_sign_in_creates_the_user_with_the_role_from_the_claim(
    sso: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="chs.signin")
    subject = person(
        sso, "Nina.Lead@example.com", chs_role="manager", given_name="Nina", family_name="Lead"
    )
    client = Client()
    response = sign_in_through_provider(client, subject, next_url="/team/")
    assert response.status_code == 302
    assert response["Location"] == "/team/"
    user = signed_in_user(client)
    assert user is not None
    assert (user.username, user.email, user.role) == (
        "Nina.Lead@example.com",
        "Nina.Lead@example.com",
        Role.MANAGER,
    )
    assert user.get_full_name() == "Nina Lead"
    assert not user.has_usable_password()
    assert not user.is_staff
    assert client.get("/team/").status_code == 200  # a manager's page, in that session
    signin = next(r for r in caplog.records if getattr(r, "event", "") == "signin")
    assert (signin.method, signin.username) == ("sso", "Nina.Lead@example.com")  # type: ignore[attr-defined]


def test_an_existing_user_is_matched_by_email_and_follows_the_role_claim(
    sso: str, settings: Any
) -> None:
    settings.OIDC_ROLE_CLAIM = "groups"
    settings.OIDC_ROLE_MAP = {"chs-admins": "admin", "chs-leads": "manager"}
    existing = UserFactory.create(username="sam", email="sam@example.com", role=Role.CSM)
    subject = person(sso, "SAM@example.com", groups=["everyone", "chs-admins"])
    client = Client()
    sign_in_through_provider(client, subject)
    assert signed_in_user(client) == existing
    existing.refresh_from_db()
    assert (existing.role, existing.is_staff, existing.is_superuser) == (Role.ADMIN, True, True)
    assert User.objects.count() == 1

    # Out of the admins' group at the provider: the next sign-in drops admin.
    person(sso, "SAM@example.com", groups=["everyone"])
    sign_in_through_provider(Client(), subject)
    existing.refresh_from_db()
    assert (existing.role, existing.is_staff, existing.is_superuser) == (Role.CSM, False, False)


def test_an_unknown_role_value_gives_the_least_privilege(sso: str) -> None:
    subject = person(sso, "root@example.com", chs_role="superuser")
    client = Client()
    sign_in_through_provider(client, subject)
    user = signed_in_user(client)
    assert user is not None
    assert (user.role, user.is_superuser) == (Role.CSM, False)
    assert client.get("/api-tokens/").status_code == 404  # an admin page


def test_an_unverified_email_is_refused_with_a_reason(sso: str) -> None:
    subject = person(sso, "eve@example.com", email_verified=False, chs_role="admin")
    client = Client()
    response = sign_in_through_provider(client, subject)
    assert response.status_code == 302
    assert response["Location"] == "/login/"
    assert signed_in_user(client) is None
    assert not User.objects.filter(email="eve@example.com").exists()
    page = client.get("/login/").content.decode()
    assert "your email address is not verified" in page


def test_a_refusal_at_the_provider_comes_back_as_a_message(sso: str) -> None:
    client = Client()
    start = client.get("/sso/start/")
    denied = requests.post(
        start["Location"], data={"action": "deny"}, allow_redirects=False, timeout=5
    )
    back = urlsplit(denied.headers["Location"])
    response = client.get(f"{back.path}?{back.query}")
    assert response["Location"] == "/login/"
    page = client.get("/login/").content.decode()
    assert "the identity provider refused (The resource owner or authorization server" in page


def test_a_callback_this_browser_never_started_is_refused(sso: str) -> None:
    client = Client()
    client.get("/sso/start/")
    response = client.get("/sso/callback/?code=stolen&state=forged")
    assert response.status_code == 302
    assert response["Location"] == "/login/"
    assert signed_in_user(client) is None


def test_a_provider_that_does_not_answer_is_a_message_not_an_error(
    settings: Any,
) -> None:
    settings.SSO_ENABLED = True
    settings.OIDC_RP_CLIENT_ID = "chs"
    settings.OIDC_RP_CLIENT_SECRET = "chs-secret"
    settings.OIDC_OP_ISSUER = "http://127.0.0.1:9"  # discard: nothing listens
    settings.OIDC_TIMEOUT = 2
    client = Client()
    response = client.get("/sso/start/")
    assert response.status_code == 302
    assert response["Location"] == "/login/"
    assert "discovery document" in client.get("/login/").content.decode()


def test_enforced_sso_refuses_passwords_for_everyone_but_admins(sso: str, settings: Any) -> None:
    settings.SSO_REQUIRED = True
    UserFactory.create(username="carl", email="carl@example.com", password=PASSWORD)
    UserFactory.create(
        username="root", role=Role.ADMIN, is_staff=True, is_superuser=True, password=PASSWORD
    )
    client = Client()
    login_page = client.get("/login/").content.decode()
    assert 'href="/sso/start/"' in login_page and "Sign in with SSO" in login_page

    refused = client.post("/login/", {"username": "carl", "password": PASSWORD})
    assert refused.status_code == 200
    assert "signs in to CHS through single sign-on" in refused.content.decode()
    assert signed_in_user(client) is None

    # The same person through the provider is let in.
    sign_in_through_provider(client, person(sso, "carl@example.com"))
    assert signed_in_user(client) == User.objects.get(username="carl")

    admin = Client()
    assert admin.post("/login/", {"username": "root", "password": PASSWORD}).status_code == 302
    assert signed_in_user(admin) == User.objects.get(username="root")


def test_without_sso_the_login_page_has_no_sso_button(client: Client) -> None:
    assert "/sso/start/" not in client.get("/login/").content.decode()


@pytest.mark.parametrize(
    ("claims", "role"),
    [
        ({"chs_role": "admin"}, "admin"),
        ({"chs_role": "manager"}, "manager"),
        ({"chs_role": "Admin"}, "csm"),  # values are compared exactly
        ({"chs_role": ["csm", "manager"]}, "manager"),  # the most privileged mapped value
        ({"chs_role": ["nobody"]}, "csm"),
        ({"chs_role": 3}, "csm"),
        ({}, None),  # no claim: the role set in CHS stays
    ],
)
def test_role_mapping(claims: dict[str, object], role: str | None) -> None:
    mapping = {"csm": "csm", "manager": "manager", "admin": "admin"}
    assert role_from_claims(claims, claim="chs_role", mapping=mapping) == role
