"""Notifications: in-app rows, email per the user's choice (immediate / digest / off), the
team's Slack-compatible webhook (a real local HTTP server), retries that never lose the task."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core import mail
from django.utils import timezone

from accounts.models import Account, Team, User
from playbooks.models import Notification, Task
from playbooks.services.firing import evaluate_score_changes
from playbooks.services.notifications import (
    DeliveryFailed,
    deliver_notification,
    notify,
    retry_failed_notifications,
    send_digests,
)
from tests.factories import PlaybookFactory, change

pytestmark = pytest.mark.django_db


class _Hook(BaseHTTPRequestHandler):
    received: list[dict[str, object]] = []
    status = 200

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        length = int(self.headers["Content-Length"])
        type(self).received.append(json.loads(self.rfile.read(length)))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, type[_Hook]]]:
    _Hook.received = []
    _Hook.status = 200
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", _Hook
    server.shutdown()


def _notify(user: User, account: Account) -> Notification:
    [n] = notify(recipients=[user], title="Acme fell into red", body="Call them", account=account)
    return n


def test_immediate_email_and_webhook_are_delivered(
    csm: User,
    account: Account,
    team: Team,
    webhook: tuple[str, type[_Hook]],
    django_capture_on_commit_callbacks: object,
) -> None:
    url, hook = webhook
    team.slack_webhook_url = url
    team.save()
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        n = _notify(csm, account)
    n.refresh_from_db()
    assert (n.email_status, n.slack_status, n.attempts) == ("sent", "sent", 1)
    assert [m.to for m in mail.outbox] == [[csm.email]]
    assert "Acme fell into red" in str(hook.received[0]["text"])


def test_digest_readers_get_one_daily_email(
    csm: User, account: Account, django_capture_on_commit_callbacks: object
) -> None:
    csm.email_notifications = User.EmailMode.DIGEST
    csm.save()
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        _notify(csm, account)
        _notify(csm, account)
    assert mail.outbox == []
    assert send_digests() == 1
    assert len(mail.outbox) == 1 and "2 updates" in mail.outbox[0].subject
    assert not Notification.objects.exclude(email_status="sent").exists()
    assert send_digests() == 0


def test_email_off_means_in_app_only(
    csm: User, account: Account, django_capture_on_commit_callbacks: object
) -> None:
    csm.email_notifications = User.EmailMode.OFF
    csm.save()
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        n = _notify(csm, account)
    n.refresh_from_db()
    assert n.email_status == "skipped" and mail.outbox == []
    assert n.read_at is None  # still in the in-app list


def test_a_failing_webhook_is_recorded_retried_and_never_loses_the_task(
    csm: User,
    account: Account,
    team: Team,
    webhook: tuple[str, type[_Hook]],
    django_capture_on_commit_callbacks: object,
) -> None:
    url, hook = webhook
    team.slack_webhook_url = url
    team.save()
    hook.status = 500
    playbook = PlaybookFactory.create()
    from playbooks.models import PlaybookAction

    PlaybookAction.objects.create(
        playbook=playbook, kind="notify", title_template="{account_name} is red", position=1
    )
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        created = evaluate_score_changes(
            changes=[change(account, band="red", score=20, previous_band="yellow")]
        )
    assert created == 1 and Task.objects.filter(playbook=playbook).exists()
    n = Notification.objects.get()
    assert n.email_status == "sent" and n.slack_status == "failed"
    assert "500" in n.last_error
    # The chat service recovers: the retry sweep re-sends only what failed.
    hook.status = 200
    assert retry_failed_notifications() == 1
    n.refresh_from_db()
    assert n.slack_status == "sent" and n.attempts == 2
    assert len(mail.outbox) == 1  # the email was not sent twice


def test_unreachable_webhook_times_out_quickly(csm: User, account: Account, team: Team) -> None:
    team.slack_webhook_url = "http://127.0.0.1:9/never"  # discard port: connection refused
    team.save()
    [n] = notify(recipients=[csm], title="x", account=account)
    started = timezone.now()
    with pytest.raises(DeliveryFailed):
        deliver_notification(notification_id=n.pk)
    assert (timezone.now() - started).total_seconds() < 6
    n.refresh_from_db()
    assert n.slack_status == "failed" and n.email_status == "sent"


def test_user_chooses_their_email_mode_on_the_notifications_page(
    csm: User, csm_client: object
) -> None:
    response = csm_client.post("/notifications/", {"email_notifications": "digest"})  # type: ignore[attr-defined]
    assert response.status_code == 302
    csm.refresh_from_db()
    assert csm.email_notifications == "digest"
    csm_client.post("/notifications/", {"email_notifications": "hourly"})  # type: ignore[attr-defined]
    csm.refresh_from_db()
    assert csm.email_notifications == "digest"


def test_a_manager_is_notified_through_the_webhook_of_the_team_they_lead(
    manager: User, account: Account, team: Team, webhook: tuple[str, type[_Hook]]
) -> None:
    url, hook = webhook
    team.slack_webhook_url = url
    team.save()
    [n] = notify(recipients=[manager], title="Renewal risk at Acme", account=account)
    deliver_notification(notification_id=n.pk)
    n.refresh_from_db()
    assert n.slack_status == "sent" and "Renewal risk at Acme" in str(hook.received[0]["text"])
