"""Slack through slack-sdk against a local server answering like Slack's Web API: connecting
a workspace (token checked, stored encrypted, audited), direct messages per each person's
choice (immediately, daily digest, never), team channel posts for band changes and renewals
at risk, failures recorded and retried, the webhook fallback, and the admin page."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from accounts.models import Account, AuditEntry, Team, User
from chs_site.errors import ValidationFailed
from playbooks.models import ChannelPost, Notification, SlackProfile, SlackWorkspace
from playbooks.services import slack
from playbooks.services.firing import process_score_events
from playbooks.services.notifications import deliver_notification, notify
from scoring.models import ScoreEvent
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db

TOKEN = "xoxb-1111111111-2222222222222-abcdefghijklmnopqrstuvwx"


@dataclass
class SlackFake:
    """Slack's Web API in its documented shapes: ``ok``/``error`` bodies with HTTP 200,
    429 + ``Retry-After`` when rate-limiting."""

    server: HTTPServer
    token: str = TOKEN
    users: dict[str, str] = field(default_factory=dict)  # email → Slack user id
    posted: list[dict[str, Any]] = field(default_factory=list)
    lookups: list[str] = field(default_factory=list)
    failures: list[Response] = field(default_factory=list)

    @property
    def base(self) -> str:
        return self.server.url_for("/api/")

    def install(self) -> SlackFake:
        for method, handler in (
            ("auth.test", self._auth_test),
            ("users.lookupByEmail", self._lookup),
            ("chat.postMessage", self._post),
        ):
            self.server.expect_request(f"/api/{method}").respond_with_handler(self._serve(handler))
        return self

    def _serve(self, handler: Any) -> Any:
        def wrapped(request: Request) -> Response:
            if request.headers.get("Authorization") != f"Bearer {self.token}":
                return Response(
                    '{"ok": false, "error": "invalid_auth"}', 200, mimetype="application/json"
                )
            if self.failures:
                return self.failures.pop(0)
            return handler(request)

        return wrapped

    def rate_limit_next(self, seconds: int = 30) -> None:
        self.failures.append(
            Response(
                '{"ok": false, "error": "ratelimited"}',
                429,
                headers={"Retry-After": str(seconds)},
                mimetype="application/json",
            )
        )

    def _auth_test(self, request: Request) -> Response:
        return _ok(
            {
                "url": "https://acme.slack.com/",
                "team": "Acme CS",
                "user": "chs",
                "team_id": "T0ACME",
                "user_id": "U0BOT",
                "bot_id": "B0BOT",
            }
        )

    def _lookup(self, request: Request) -> Response:
        email = request.args.get("email") or request.form.get("email", "")
        self.lookups.append(email)
        if email not in self.users:
            return Response(
                '{"ok": false, "error": "users_not_found"}', 200, mimetype="application/json"
            )
        return _ok(
            {"user": {"id": self.users[email], "team_id": "T0ACME", "profile": {"email": email}}}
        )

    def _post(self, request: Request) -> Response:
        body = request.get_json(silent=True) or request.form.to_dict()
        self.posted.append(body)
        return _ok(
            {
                "channel": body["channel"],
                "ts": "1764800000.000100",
                "message": {"text": body.get("text")},
            }
        )


def _ok(body: dict[str, Any]) -> Response:
    import json

    return Response(json.dumps({"ok": True, **body}), 200, mimetype="application/json")


@pytest.fixture
def slack_fake(httpserver: HTTPServer) -> Iterator[SlackFake]:
    yield SlackFake(server=httpserver).install()


@pytest.fixture
def workspace(admin: User, slack_fake: SlackFake) -> SlackWorkspace:
    return slack.connect_workspace(actor=admin, token=TOKEN, api_base=slack_fake.base)


def _notify(user: User, account: Account, title: str = "Acme fell into red") -> Notification:
    [n] = notify(recipients=[user], title=title, body="Call them", account=account)
    return n


def test_connecting_checks_the_token_stores_it_encrypted_and_audits_it(
    admin: User, slack_fake: SlackFake
) -> None:
    ws = slack.connect_workspace(actor=admin, token=TOKEN, api_base=slack_fake.base)
    assert (ws.slack_team_name, ws.slack_team_id, ws.token_hint) == ("Acme CS", "T0ACME", "uvwx")
    assert TOKEN not in ws.token_encrypted and slack.client_for(ws).token == TOKEN
    entry = AuditEntry.objects.get(object_label="Slack workspace Acme CS")
    assert TOKEN not in str(entry.changes)

    slack_fake.token = "xoxb-other"
    with pytest.raises(ValidationFailed, match="invalid_auth"):
        slack.connect_workspace(actor=admin, token=TOKEN, api_base=slack_fake.base)
    with pytest.raises(ValidationFailed, match="not a bot token"):
        slack.connect_workspace(actor=admin, token="xoxp-user-token", api_base=slack_fake.base)
    assert SlackWorkspace.objects.get() == ws  # a refused token changes nothing


def test_a_notification_becomes_a_direct_message_to_its_recipient_only(
    csm: User,
    account: Account,
    workspace: SlackWorkspace,
    slack_fake: SlackFake,
    django_capture_on_commit_callbacks: Any,
) -> None:
    slack_fake.users[csm.email] = "U0CSM"
    with django_capture_on_commit_callbacks(execute=True):
        first = _notify(csm, account)
        _notify(csm, account, title="Renewal review due")
    first.refresh_from_db()
    assert first.slack_status == "sent"
    assert [p["channel"] for p in slack_fake.posted] == ["U0CSM", "U0CSM"]
    assert slack_fake.lookups == [csm.email]  # looked up once, then remembered
    blocks = slack_fake.posted[0]["blocks"]
    assert f"/accounts/{account.external_id}/" in blocks[0]["text"]["text"]
    assert slack_fake.posted[0]["text"] == "Acme fell into red"


def test_digest_readers_get_one_message_a_day_and_never_means_never(
    csm: User,
    teammate: User,
    account: Account,
    workspace: SlackWorkspace,
    slack_fake: SlackFake,
    django_capture_on_commit_callbacks: Any,
) -> None:
    slack_fake.users.update({csm.email: "U0CSM", teammate.email: "U0MATE"})
    slack.set_slack_preference(user=csm, mode="digest")
    slack.set_slack_preference(user=teammate, mode="off")
    with django_capture_on_commit_callbacks(execute=True):
        _notify(csm, account)
        _notify(csm, account, title="Second")
        _notify(teammate, account)
    assert slack_fake.posted == []
    assert list(Notification.objects.values_list("slack_status", flat=True).order_by("pk")) == [
        "digest",
        "digest",
        "skipped",
    ]
    assert slack.send_slack_digests() == 1
    [digest] = slack_fake.posted
    assert digest["channel"] == "U0CSM" and digest["text"] == "Your CHS digest: 2 updates"
    assert not Notification.objects.filter(slack_status="digest").exists()


def test_a_rate_limited_message_is_recorded_and_sent_on_retry(
    csm: User, account: Account, workspace: SlackWorkspace, slack_fake: SlackFake
) -> None:
    slack_fake.users[csm.email] = "U0CSM"
    n = _notify(csm, account)
    slack_fake.rate_limit_next(30)
    with pytest.raises(Exception, match="rate-limiting CHS"):
        deliver_notification(notification_id=n.pk)
    n.refresh_from_db()
    assert n.slack_status == "failed" and "retry after 30 s" in n.last_error
    deliver_notification(notification_id=n.pk)
    n.refresh_from_db()
    assert n.slack_status == "sent" and len(slack_fake.posted) == 1


def test_someone_slack_does_not_know_gets_a_clear_failure(
    csm: User, account: Account, workspace: SlackWorkspace, slack_fake: SlackFake
) -> None:
    n = _notify(csm, account)
    with pytest.raises(Exception, match="no Slack user has the email"):
        deliver_notification(notification_id=n.pk)
    n.refresh_from_db()
    assert n.slack_status == "failed" and csm.email in n.last_error
    assert slack_fake.posted == []


def test_without_a_workspace_the_team_webhook_stays_the_channel(
    csm: User, account: Account, team: Team
) -> None:
    team.slack_webhook_url = "http://127.0.0.1:9/hook"
    team.save()
    assert _notify(csm, account).slack_status == "pending"  # the webhook, as before
    team.slack_webhook_url = ""
    team.save()
    assert _notify(csm, account).slack_status == "skipped"


def _event(account: Account, previous: str, band: str, score: float) -> None:
    ScoreEvent.objects.create(
        kind=ScoreEvent.Kind.SCORE,
        account=account,
        previous_band=previous,
        previous_score=None,
        band=band,
        score=score,
        created_at=timezone.now(),
    )


def test_band_changes_are_posted_once_per_team_batch_to_the_teams_channel(
    admin: User,
    csm: User,
    other_csm: User,
    team: Team,
    workspace: SlackWorkspace,
    slack_fake: SlackFake,
    django_capture_on_commit_callbacks: Any,
) -> None:
    slack.set_team_channel(actor=admin, team=team, channel="#cs-atlas")
    acme: Account = AccountFactory.create(owner=csm, name="Acme", arr=90_000)
    globex: Account = AccountFactory.create(owner=csm, name="Globex", arr=10_000)
    theirs: Account = AccountFactory.create(owner=other_csm, name="Initech")
    new: Account = AccountFactory.create(owner=csm, name="Newco")
    _event(acme, "yellow", "red", 31.4)
    _event(globex, "red", "yellow", 48.0)
    _event(theirs, "green", "red", 20.0)  # a team without a channel: nothing posted
    _event(new, "", "red", 10.0)  # a first score is not a change
    with django_capture_on_commit_callbacks(execute=True):
        process_score_events()
    [post] = ChannelPost.objects.all()
    assert (post.channel, post.kind, post.status) == ("#cs-atlas", "band_changes", "sent")
    [sent] = slack_fake.posted
    assert sent["channel"] == "#cs-atlas"
    assert sent["text"].startswith("2 accounts changed health band")
    body = sent["blocks"][1]["text"]["text"]
    assert body.index("Acme") < body.index("Globex")  # biggest ARR first
    assert "Yellow → *Red* (score 31)" in body and "Initech" not in body and "Newco" not in body
    audit = AuditEntry.objects.filter(object_type="team").latest("at")
    assert audit.changes == {"slack_channel": ["", "#cs-atlas"]}


def test_renewals_at_risk_are_posted_daily_per_team(
    admin: User,
    csm: User,
    team: Team,
    workspace: SlackWorkspace,
    slack_fake: SlackFake,
    django_capture_on_commit_callbacks: Any,
) -> None:
    slack.set_team_channel(actor=admin, team=team, channel="C0ATLAS")
    today = timezone.localdate()
    AccountFactory.create(
        owner=csm, name="Acme", health_band="red", renewal_date=today + dt.timedelta(days=12)
    )
    AccountFactory.create(
        owner=csm, name="Fine", health_band="green", renewal_date=today + dt.timedelta(days=5)
    )
    AccountFactory.create(
        owner=csm, name="Later", health_band="red", renewal_date=today + dt.timedelta(days=90)
    )
    with django_capture_on_commit_callbacks(execute=True):
        [post] = slack.post_renewal_risks()
    assert post.kind == "renewal_risks"
    [sent] = slack_fake.posted
    assert sent["channel"] == "C0ATLAS" and "Acme" in sent["text"]
    assert "renews in 12 days" in sent["text"] and "Fine" not in sent["text"]
    assert "Later" not in sent["text"]


def test_a_failed_channel_post_is_kept_and_retried(
    admin: User, csm: User, team: Team, workspace: SlackWorkspace, slack_fake: SlackFake
) -> None:
    slack.set_team_channel(actor=admin, team=team, channel="#cs-atlas")
    AccountFactory.create(
        owner=csm, health_band="red", renewal_date=timezone.localdate() + dt.timedelta(days=3)
    )
    [post] = slack.post_renewal_risks()
    slack_fake.token = "xoxb-revoked"
    with pytest.raises(slack.SlackFailed, match="invalid_auth"):
        slack.deliver_channel_post(post_id=post.pk)
    post.refresh_from_db()
    assert (post.status, post.attempts, post.last_error) == (
        "failed",
        1,
        "Slack answered invalid_auth",
    )
    slack_fake.token = TOKEN
    slack.deliver_channel_post(post_id=post.pk)
    post.refresh_from_db()
    assert (post.status, post.attempts) == ("sent", 2)


def test_the_slack_page_is_for_admins_and_disconnecting_needs_a_confirmation(
    admin_client: Client,
    csm_client: Client,
    manager_client: Client,
    slack_fake: SlackFake,
    settings: Any,
) -> None:
    url = reverse("playbooks:slack")
    assert csm_client.get(url).status_code == 404
    assert manager_client.get(url).status_code == 404
    settings.SLACK_API_BASE = slack_fake.base
    response = admin_client.post(url, {"action": "connect", "token": TOKEN}, follow=True)
    assert "Connected to the Slack workspace Acme CS" in response.content.decode()
    page = admin_client.get(url).content.decode()
    assert "•••• uvwx" in page and TOKEN not in page
    refused = admin_client.post(url, {"action": "disconnect"})
    assert refused.status_code == 400 and SlackWorkspace.objects.exists()
    admin_client.post(url, {"action": "disconnect", "confirm": "yes"})
    assert not SlackWorkspace.objects.exists()


def test_people_choose_how_slack_messages_them_on_their_notifications_page(
    csm_client: Client, csm: User, workspace: SlackWorkspace
) -> None:
    url = reverse("playbooks:notifications")
    assert 'name="slack_notifications"' in csm_client.get(url).content.decode()
    csm_client.post(url, {"slack_notifications": "digest"})
    assert SlackProfile.objects.get(user=csm).mode == "digest"
