"""Signing in with a password: lockout after repeated failures (django-axes, counted in the
database), unlocking by an admin, the password change and reset pages, the password rules,
and the sign-in log."""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any

import pytest
import requests
import time_machine
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.core import mail
from django.test import Client
from django.utils import timezone

from accounts.models import AuditEntry, Role, User
from accounts.services.tokens import create_api_token
from chs_site.benchmarks import start_gunicorn, web_env
from tests.conftest import ROOT, client_for, database_url_for_current_test_db
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"
NEW_PASSWORD = "a brand-new passphrase"


@pytest.fixture
def carol(db: None) -> User:
    return UserFactory.create(username="carol", email="carol@example.com", password=PASSWORD)


@pytest.fixture
def limit_3(settings: Any) -> None:
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_COOLOFF_TIME = dt.timedelta(minutes=15)


def log_in(client: Client, username: str, password: str, ip: str = "10.0.0.1", **extra: Any) -> Any:
    return client.post(
        "/login/", {"username": username, "password": password}, REMOTE_ADDR=ip, **extra
    )


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


# --- lockout ---------------------------------------------------------------------------


def test_repeated_failures_lock_the_username_from_that_address(
    carol: User, limit_3: None, caplog: pytest.LogCaptureFixture
) -> None:
    client = Client()
    caplog.set_level(logging.INFO, logger="chs.signin")
    assert log_in(client, "carol", "wrong-1").status_code == 200
    assert log_in(client, "carol", "wrong-2").status_code == 200
    locked = log_in(client, "carol", "wrong-3")
    assert locked.status_code == 429
    page = locked.content.decode()
    assert "Too many failed sign-ins" in page and "locked for 15 minutes" in page

    # Now even the right password is refused, and the page says why.
    right = log_in(client, "carol", PASSWORD)
    assert right.status_code == 429
    assert "Too many failed sign-ins" in right.content.decode()
    assert not signed_in(client)

    # The lock is for this username from this address: others are not punished for it.
    other = UserFactory.create(username="dan", password=PASSWORD)
    assert log_in(Client(), "dan", PASSWORD).status_code == 302
    assert log_in(Client(), "carol", PASSWORD, ip="10.0.0.2").status_code == 302
    assert other.pk

    events = [getattr(r, "event", "") for r in caplog.records if r.name == "chs.signin"]
    assert events.count("signin_failed") >= 3
    assert "signin_locked_out" in events
    assert events.count("signin") == 2
    signin = next(r for r in caplog.records if getattr(r, "event", "") == "signin")
    assert signin.method == "password"  # type: ignore[attr-defined]
    failed = next(r for r in caplog.records if getattr(r, "event", "") == "signin_failed")
    assert (failed.username, failed.ip) == ("carol", "10.0.0.1")  # type: ignore[attr-defined]
    assert PASSWORD not in caplog.text and "wrong-1" not in caplog.text


def test_the_lock_lifts_after_the_cool_off(carol: User, limit_3: None) -> None:
    client = Client()
    for n in range(3):
        log_in(client, "carol", f"wrong-{n}")
    assert log_in(client, "carol", PASSWORD).status_code == 429
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=16)):
        assert log_in(client, "carol", PASSWORD).status_code == 302


def test_a_forged_forwarded_for_header_does_not_dodge_the_lock(carol: User, limit_3: None) -> None:
    client = Client()
    for n in range(3):  # no proxy configured: X-Forwarded-For is anyone's to write
        log_in(client, "carol", f"wrong-{n}", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
    assert log_in(client, "carol", PASSWORD, HTTP_X_FORWARDED_FOR="192.0.2.99").status_code == 429


def test_an_admin_unlocks_from_the_user_list(carol: User, limit_3: None, admin: User) -> None:
    client = Client()
    for n in range(3):
        log_in(client, "carol", f"wrong-{n}")
    assert log_in(client, "carol", PASSWORD).status_code == 429

    response = client_for(admin).post(
        "/admin/accounts/user/",
        {"action": "unlock_sign_ins", "_selected_action": [carol.pk]},
        follow=True,
    )
    assert "Unlocked 1 user(s)" in response.content.decode()
    assert log_in(client, "carol", PASSWORD).status_code == 302

    # The audit log has the lockout (from the address that failed; again for each attempt
    # refused while locked) and who lifted it.
    entries = AuditEntry.objects.filter(object_label="carol").order_by("at", "pk")
    locked = entries.filter(action=AuditEntry.Action.LOCKED_OUT).first()
    unlocked = entries.get(action=AuditEntry.Action.UNLOCKED)
    assert locked is not None
    assert (locked.object_id, locked.ip_address) == (str(carol.pk), "10.0.0.1")
    # Three wrong passwords and the right one refused while locked: four failures forgotten.
    assert unlocked.actor == admin and unlocked.changes == {"failed_sign_ins": [4, 0]}


def test_api_keys_are_not_affected_by_a_locked_sign_in(carol: User, limit_3: None) -> None:
    carol.role = Role.ADMIN
    carol.save(update_fields=["role"])
    key = create_api_token(user=carol, scope="read").key
    for n in range(4):
        log_in(Client(), "carol", f"wrong-{n}", ip="127.0.0.1")
    response = Client().get(
        "/api/v1/accounts/", headers={"Authorization": f"Token {key}"}, REMOTE_ADDR="127.0.0.1"
    )
    assert response.status_code == 200


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_lockout_holds_across_gunicorn_workers(db: None) -> None:
    """Three gunicorn worker processes, each request on a new connection (so the kernel
    hands them to whichever worker accepts): the failures add up in PostgreSQL."""
    user = UserFactory.create(username="carol")
    # The server uses Django's default hashers, not the suite's fast one.
    user.password = PBKDF2PasswordHasher().encode(PASSWORD, "saltsaltsalt", iterations=1000)
    user.save(update_fields=["password"])
    web = start_gunicorn(
        env=web_env(
            queue="chs-signin-test",
            env={"DATABASE_URL": database_url_for_current_test_db(), "AXES_FAILURE_LIMIT": "3"},
        ),
        log_path=ROOT / "var" / "test-signin-gunicorn.log",
        workers=3,
        threads=1,
    )
    try:
        web.wait_until_ready(timeout=90)
        browser = requests.Session()
        browser.headers["Connection"] = "close"

        def attempt(password: str) -> requests.Response:
            page = browser.get(f"{web.url}/login/", timeout=10).text
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
            assert token is not None, page[:300]
            return browser.post(
                f"{web.url}/login/",
                {"csrfmiddlewaretoken": token.group(1), "username": "carol", "password": password},
                allow_redirects=False,
                timeout=10,
            )

        answers = [attempt(f"wrong-{n}").status_code for n in range(3)]
        assert answers == [200, 200, 429], web.log_tail()
        refused = attempt(PASSWORD)
        assert refused.status_code == 429
        assert "Too many failed sign-ins" in refused.text
    finally:
        web.stop()


# --- password rules, change and reset --------------------------------------------------


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short-pw", "at least 12 characters"),
        ("password1234", "too common"),
        ("738291046573", "entirely numeric"),
        ("carol@example.com", "too similar"),
    ],
)
def test_the_password_rules_apply_on_change(carol: User, password: str, reason: str) -> None:
    client = client_for(carol)
    response = client.post(
        "/password/change/",
        {"old_password": PASSWORD, "new_password1": password, "new_password2": password},
    )
    assert response.status_code == 200
    assert reason in response.content.decode()
    carol.refresh_from_db()
    assert carol.check_password(PASSWORD)


def test_changing_the_password(carol: User) -> None:
    client = client_for(carol)
    page = client.get("/password/change/").content.decode()
    assert 'autocomplete="current-password"' in page and "at least 12 characters" in page
    wrong = client.post(
        "/password/change/",
        {"old_password": "nope", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert "old password was entered incorrectly" in wrong.content.decode()
    done = client.post(
        "/password/change/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert done["Location"] == "/password/change/done/"
    assert "Password changed" in client.get(done["Location"]).content.decode()  # still in
    carol.refresh_from_db()
    assert carol.check_password(NEW_PASSWORD)
    entry = AuditEntry.objects.get(action=AuditEntry.Action.PASSWORD_CHANGED)
    assert (entry.actor, entry.object_id) == (carol, str(carol.pk))
    assert entry.changes == {"password": ["•••", "•••"]}


def test_the_nav_links_to_the_password_page(carol: User) -> None:
    assert 'href="/password/change/"' in client_for(carol).get("/portfolio/").content.decode()


def test_resetting_a_forgotten_password_by_email(carol: User) -> None:
    client = Client()
    assert 'href="/password/reset/"' in client.get("/login/").content.decode()
    response = client.post("/password/reset/", {"email": "CAROL@example.com"})
    assert response["Location"] == "/password/reset/sent/"
    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == ["carol@example.com"]
    assert email.subject == "Choose a new CHS password"
    link = re.search(r"http://testserver(/password/reset/\S+/)", str(email.body))
    assert link is not None

    # Django swaps the token for a session marker, so the link never sits in a Referer.
    form_url = client.get(link.group(1))["Location"]
    assert form_url.endswith("/set-password/")
    assert "Choose a new password" in client.get(form_url).content.decode()
    weak = client.post(form_url, {"new_password1": "carol", "new_password2": "carol"})
    assert "at least 12 characters" in weak.content.decode()
    done = client.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert done["Location"] == "/password/reset/done/"
    assert log_in(Client(), "carol", NEW_PASSWORD).status_code == 302
    entry = AuditEntry.objects.get(action=AuditEntry.Action.PASSWORD_CHANGED)
    assert entry.actor == carol and NEW_PASSWORD not in str(entry.changes)

    # The link works once.
    again = Client().get(link.group(1))
    assert "This link does not work" in again.content.decode()


def test_a_reset_for_an_unknown_address_looks_the_same_and_sends_nothing(carol: User) -> None:
    known = Client().post("/password/reset/", {"email": "carol@example.com"})
    unknown = Client().post("/password/reset/", {"email": "nobody@example.com"})
    assert (known.status_code, known["Location"]) == (unknown.status_code, unknown["Location"])
    assert [m.to for m in mail.outbox] == [["carol@example.com"]]


def test_a_malformed_reset_request_is_a_form_error(db: None) -> None:
    response = Client().post("/password/reset/", {"email": "not an address"})
    assert response.status_code == 200
    assert "Enter a valid email address" in response.content.decode()
    assert not mail.outbox


def test_no_reset_link_for_people_who_must_use_sso(carol: User, settings: Any) -> None:
    settings.SSO_ENABLED = True
    settings.SSO_REQUIRED = True
    Client().post("/password/reset/", {"email": "carol@example.com"})
    assert not mail.outbox
