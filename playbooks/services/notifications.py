"""Notifications: in-app rows, email and Slack direct messages (immediately, as a daily
digest, or never: each user's choice per channel; ``services.slack``), or the team's
Slack-compatible webhook when no Slack workspace is connected. Channels are decided when the row
is stored and delivered after commit by a task; failures are recorded on the row and
retried (Celery backoff, then the ten-minute sweep)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Iterable, Sequence

from django.conf import settings
from django.core.mail import send_mail
from django.db.models import Q
from django.utils import timezone

from accounts.models import Account, Team, User
from chs_site.celery import send_on_commit
from chs_site.errors import ValidationFailed
from playbooks.models import Notification, Task
from playbooks.services import slack

logger = logging.getLogger(__name__)


class DeliveryFailed(Exception):
    """A channel failed; the Celery task retries it later (transient by nature)."""


def notify(
    *,
    recipients: Iterable[User],
    title: str,
    body: str = "",
    account: Account | None = None,
    task: Task | None = None,
    url: str = "",
    now: dt.datetime | None = None,
) -> list[Notification]:
    now = now or timezone.now()
    return queue_notifications(
        [
            Notification(
                recipient=r,
                account=account,
                task=task,
                title=title[:200],
                body=body,
                url=url or (account.get_absolute_url() if account else "/tasks/"),
                created_at=now,
            )
            for r in recipients
        ]
    )


def webhook_url_for(user: User) -> str:
    """The team's incoming-webhook URL: the CSM's own team, or the team a manager leads."""
    if user.team_id is not None:
        teams = Team.objects.filter(pk=user.team_id)
    else:
        teams = Team.objects.filter(manager=user).order_by("pk")
    return (
        teams.exclude(slack_webhook_url="").values_list("slack_webhook_url", flat=True).first()
        or ""
    )


def queue_notifications(notifications: list[Notification]) -> list[Notification]:
    """Store the in-app rows and decide the channels now; deliver after commit, so a
    rolled-back firing sends nothing and a failed delivery never undoes the firing."""
    hooks: dict[int, str] = {}
    ws = slack.workspace()
    for n in notifications:
        mode = n.recipient.email_notifications
        if mode == User.EmailMode.OFF or not n.recipient.email:
            n.email_status = Notification.Delivery.SKIPPED
        elif mode == User.EmailMode.DIGEST:
            n.email_status = Notification.Delivery.DIGEST
        else:
            n.email_status = Notification.Delivery.PENDING
        if ws is not None:  # a direct message, as the recipient chose
            n.slack_status = slack.dm_status(n.recipient)
            continue
        if n.recipient_id not in hooks:
            hooks[n.recipient_id] = webhook_url_for(n.recipient)
        n.slack_status = (
            Notification.Delivery.PENDING
            if hooks[n.recipient_id]
            else Notification.Delivery.SKIPPED
        )
    created = Notification.objects.bulk_create(notifications)
    pending = [
        n.pk for n in created if Notification.Delivery.PENDING in (n.email_status, n.slack_status)
    ]
    if pending:
        from playbooks.tasks import deliver_notification

        for pk in pending:
            send_on_commit(deliver_notification, pk)
    return created


def _post_webhook(url: str, text: str) -> None:
    request = urllib.request.Request(
        url,
        data=json.dumps({"text": text}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    # A short timeout: a slow chat service must not hold a worker.
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (admin-set URL)
        if response.status >= 300:
            raise DeliveryFailed(f"webhook answered {response.status}")


def deliver_notification(*, notification_id: int) -> Notification | None:
    """Send the pending channels of one notification. Raises ``DeliveryFailed`` after
    recording the error when a channel failed, so the caller can retry."""
    n = (
        Notification.objects.select_related("recipient__team", "account")
        .filter(pk=notification_id)
        .first()
    )
    if n is None:
        return None
    errors = []
    link = f"{settings.SITE_URL}{n.url}" if n.url else settings.SITE_URL
    if n.email_status in (Notification.Delivery.PENDING, Notification.Delivery.FAILED):
        try:
            send_mail(
                subject=f"[CHS] {n.title}",
                message=f"{n.body}\n\n{link}\n\nChange how CHS emails you in your profile.",
                from_email=None,
                recipient_list=[n.recipient.email],
            )
            n.email_status = Notification.Delivery.SENT
        except Exception as exc:  # any backend error: keep the row, retry later
            logger.warning("email for notification %s failed: %s", n.pk, exc)
            n.email_status = Notification.Delivery.FAILED
            errors.append(f"email: {exc}")
    ws = slack.workspace()
    if ws is not None and n.slack_status in (
        Notification.Delivery.PENDING,
        Notification.Delivery.FAILED,
    ):
        try:
            slack.send_dm(ws, n.recipient, [n])
            n.slack_status = Notification.Delivery.SENT
        except slack.SlackFailed as exc:
            logger.warning("Slack message for notification %s failed: %s", n.pk, exc)
            n.slack_status = Notification.Delivery.FAILED
            errors.append(f"slack: {exc}")
    elif n.slack_status in (Notification.Delivery.PENDING, Notification.Delivery.FAILED):
        url = webhook_url_for(n.recipient)
        if not url:
            n.slack_status = Notification.Delivery.SKIPPED
        else:
            try:
                _post_webhook(url, f"*{n.title}* for {n.recipient.display_name}\n{n.body}\n{link}")
                n.slack_status = Notification.Delivery.SENT
            except (OSError, urllib.error.URLError, DeliveryFailed, ValueError) as exc:
                logger.warning("webhook for notification %s failed: %s", n.pk, exc)
                n.slack_status = Notification.Delivery.FAILED
                errors.append(f"webhook: {exc}")
    n.attempts += 1
    n.last_error = "; ".join(errors)[:300]
    n.save(update_fields=["email_status", "slack_status", "attempts", "last_error"])
    if errors:
        raise DeliveryFailed(n.last_error)
    return n


MAX_DELIVERY_ATTEMPTS = 8


def retry_failed_notifications() -> int:
    """Beat: re-send deliveries that failed (or whose message Redis lost), up to a cap."""
    ids = list(
        Notification.objects.filter(
            Q(email_status=Notification.Delivery.FAILED)
            | Q(slack_status=Notification.Delivery.FAILED),
            attempts__lt=MAX_DELIVERY_ATTEMPTS,
        ).values_list("pk", flat=True)[:500]
    )
    from playbooks.tasks import deliver_notification as deliver

    for pk in ids:
        deliver.delay(pk)
    return len(ids)


def send_digests(*, now: dt.datetime | None = None) -> int:
    """Beat, daily: one email per digest reader with everything since the last digest."""
    now = now or timezone.now()
    sent = 0
    waiting = (
        Notification.objects.filter(email_status=Notification.Delivery.DIGEST)
        .select_related("recipient")
        .order_by("recipient_id", "created_at")
    )
    grouped: dict[int, list[Notification]] = defaultdict(list)
    for n in waiting:
        grouped[n.recipient_id].append(n)
    for items in grouped.values():
        user = items[0].recipient
        lines = [f"- {n.title}: {n.body}" for n in items]
        try:
            send_mail(
                subject=f"[CHS] Your daily digest: {len(items)} update{'s' if len(items) != 1 else ''}",
                message="\n".join(lines) + f"\n\n{settings.SITE_URL}/notifications/",
                from_email=None,
                recipient_list=[user.email],
            )
        except Exception as exc:  # next day's digest tries again; nothing is lost
            logger.warning("digest for %s failed: %s", user.username, exc)
            continue
        Notification.objects.filter(pk__in=[n.pk for n in items]).update(
            email_status=Notification.Delivery.SENT
        )
        sent += 1
    return sent


def set_email_preference(*, user: User, mode: str) -> User:
    if mode not in User.EmailMode.values:
        raise ValidationFailed(
            f"Choose one of {', '.join(User.EmailMode.values)}.",
            errors=[{"field": "email_notifications", "message": "unknown choice"}],
        )
    user.email_notifications = mode
    user.save(update_fields=["email_notifications"])
    return user


def mark_notifications_read(*, user: User, ids: Sequence[int] | None = None) -> int:
    qs = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if ids is not None:
        qs = qs.filter(pk__in=list(ids))
    return qs.update(read_at=timezone.now())
