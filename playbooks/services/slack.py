"""Slack through the official ``slack-sdk``: a workspace connected with a bot token, direct
messages to the people CHS notifies, and posts to team channels.

- **Direct messages**: a notification (``services.notifications``) goes to its recipient's
  Slack as a Block Kit message, found by email (``users.lookupByEmail``, remembered on the
  ``SlackProfile``), immediately, in a daily digest or never: each person's choice, as for
  email. Nobody else's notification is ever sent to them.
- **Team channels**: band changes (from the score events playbooks consume, one post per
  team per batch, in the consumer's transaction) and a daily list of renewals at risk go
  to the channel a team chose, as ``ChannelPost`` rows sent after commit and retried.
- Without a connected workspace, notifications keep using the team's incoming webhook.

Every send records its outcome on its row (status, attempts, last error), shown on the
Slack page; connecting, disconnecting and choosing channels are audited."""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from accounts.models import Account, AuditEntry, HealthBand, LifecycleStage, Team, User
from accounts.services.audit import record_audit
from chs_site.celery import send_on_commit
from chs_site.errors import ValidationFailed
from chs_site.formatting import money
from chs_site.secrets import decrypt, encrypt, last4
from playbooks.models import ChannelPost, Notification, SlackProfile, SlackWorkspace, TeamChannel
from scoring.contracts import ScoreChange

log = logging.getLogger(__name__)

TIMEOUT = 10  # seconds: a slow Slack must not hold a worker
LISTED = 10  # accounts named in one channel post; the rest are counted
RENEWAL_DAYS = 30
MAX_ATTEMPTS = 8


class SlackFailed(Exception):
    """Slack refused or could not be reached; the row records why and is retried."""


def workspace() -> SlackWorkspace | None:
    return SlackWorkspace.objects.order_by("pk").first()


def client_for(ws: SlackWorkspace) -> WebClient:
    return WebClient(
        token=decrypt(ws.token_encrypted),
        base_url=ws.api_base or settings.SLACK_API_BASE,
        timeout=TIMEOUT,
    )


def _reason(exc: Exception) -> str:
    if isinstance(exc, SlackApiError):
        error = exc.response.get("error", "") if exc.response is not None else ""
        status = exc.response.status_code if exc.response is not None else ""
        if status == 429:
            retry = exc.response.headers.get("Retry-After", "?")
            return f"Slack is rate-limiting CHS (retry after {retry} s)"
        return f"Slack answered {error or status}"
    return f"Slack unreachable: {exc}"


# --- configuration ------------------------------------------------------------------------


@transaction.atomic
def connect_workspace(*, actor: User, token: str, api_base: str = "") -> SlackWorkspace:
    """Check the bot token with ``auth.test`` and store it (encrypted); replaces any
    workspace connected before."""
    token = token.strip()
    if not token.startswith("xoxb-"):
        raise ValidationFailed(
            "That is not a bot token.",
            errors=[{"field": "token", "message": "A bot token starts with xoxb-."}],
        )
    client = WebClient(token=token, base_url=api_base or settings.SLACK_API_BASE, timeout=TIMEOUT)
    try:
        answer = client.auth_test()
    except (SlackApiError, SlackClientError) as exc:
        raise ValidationFailed(
            f"Slack did not accept the token: {_reason(exc)}.",
            errors=[{"field": "token", "message": _reason(exc)}],
        ) from exc
    SlackWorkspace.objects.all().delete()
    ws = SlackWorkspace.objects.create(
        token_encrypted=encrypt(token),
        token_hint=last4(token),
        slack_team_id=str(answer.get("team_id", "")),
        slack_team_name=str(answer.get("team", "")),
        api_base=api_base,
        connected_by=actor,
        connected_at=timezone.now(),
    )
    # People are looked up again in the new workspace.
    SlackProfile.objects.update(slack_user_id="", looked_up_at=None)
    record_audit(
        action=AuditEntry.Action.CREATED,
        object_type=AuditEntry.ObjectType.OTHER,
        obj=ws,
        label=f"Slack workspace {ws.slack_team_name}",
        changes={"bot_token": ["", "set"], "workspace": ["", ws.slack_team_name]},
        actor=actor,
    )
    return ws


@transaction.atomic
def disconnect_workspace(*, actor: User) -> None:
    ws = workspace()
    if ws is None:
        return
    record_audit(
        action=AuditEntry.Action.DELETED,
        object_type=AuditEntry.ObjectType.OTHER,
        obj=ws,
        label=f"Slack workspace {ws.slack_team_name}",
        changes={"bot_token": ["set", ""]},
        actor=actor,
    )
    SlackWorkspace.objects.all().delete()


@transaction.atomic
def set_team_channel(*, actor: User, team: Team, channel: str) -> TeamChannel | None:
    """Choose (or, with a blank ``channel``, stop) the team's Slack channel."""
    channel = channel.strip()
    current = TeamChannel.objects.filter(team=team).first()
    before = current.channel if current else ""
    if channel and (len(channel) > 80 or " " in channel):
        raise ValidationFailed(
            "That is not a Slack channel.",
            errors=[{"field": "channel", "message": "Use a channel id (C0…) or #name."}],
        )
    if channel == before:
        return current
    if channel:
        current, _ = TeamChannel.objects.update_or_create(team=team, defaults={"channel": channel})
    else:
        TeamChannel.objects.filter(team=team).delete()
        current = None
    record_audit(
        action=AuditEntry.Action.UPDATED,
        object_type=AuditEntry.ObjectType.TEAM,
        obj=team,
        changes={"slack_channel": [before, channel]},
        actor=actor,
    )
    return current


def set_slack_preference(*, user: User, mode: str) -> SlackProfile:
    if mode not in User.EmailMode.values:
        raise ValidationFailed(
            f"Choose one of {', '.join(User.EmailMode.values)}.",
            errors=[{"field": "slack_notifications", "message": "unknown choice"}],
        )
    profile, _ = SlackProfile.objects.update_or_create(user=user, defaults={"mode": mode})
    return profile


def slack_mode(user: User) -> str:
    profile = SlackProfile.objects.filter(user=user).first()
    return profile.mode if profile else User.EmailMode.IMMEDIATE


# --- direct messages -----------------------------------------------------------------------


def dm_status(user: User) -> str:
    """The Slack status a new notification for ``user`` starts with, when a workspace is
    connected: their choice (immediately, daily digest, never)."""
    mode = slack_mode(user)
    if mode == User.EmailMode.OFF or not user.email:
        return Notification.Delivery.SKIPPED
    if mode == User.EmailMode.DIGEST:
        return Notification.Delivery.DIGEST
    return Notification.Delivery.PENDING


def _slack_user_id(client: WebClient, user: User) -> str:
    profile, _ = SlackProfile.objects.get_or_create(user=user)
    if profile.slack_user_id:
        return profile.slack_user_id
    try:
        answer = client.users_lookupByEmail(email=user.email)
    except SlackApiError as exc:
        if exc.response is not None and exc.response.get("error") == "users_not_found":
            raise SlackFailed(f"no Slack user has the email {user.email}") from exc
        raise
    profile.slack_user_id = str(answer["user"]["id"])
    profile.looked_up_at = timezone.now()
    profile.save(update_fields=["slack_user_id", "looked_up_at"])
    return profile.slack_user_id


def _link(url: str) -> str:
    return f"{settings.SITE_URL}{url}" if url.startswith("/") else url or settings.SITE_URL


def notification_blocks(items: Sequence[Notification]) -> list[dict[str, Any]]:
    """Block Kit for one notification (or a digest of several), each with its link."""
    blocks: list[dict[str, Any]] = []
    if len(items) > 1:
        blocks.append(
            {
                "type": "header",
                "text": {"type": "plain_text", "text": f"Your CHS digest: {len(items)} updates"},
            }
        )
    for n in items:
        text = f"*<{_link(n.url)}|{_escape(n.title)}>*"
        if n.body:
            text += f"\n{_escape(n.body[:500])}"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    blocks.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"<{settings.SITE_URL}/notifications/|Change how CHS messages you>",
                }
            ],
        }
    )
    return blocks


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def send_dm(ws: SlackWorkspace, user: User, items: Sequence[Notification]) -> None:
    """Message ``user`` (only them) about ``items``; raises ``SlackFailed`` with the reason."""
    client = client_for(ws)
    try:
        channel = _slack_user_id(client, user)
        client.chat_postMessage(
            channel=channel,
            text=items[0].title if len(items) == 1 else f"Your CHS digest: {len(items)} updates",
            blocks=notification_blocks(items),
            unfurl_links=False,
        )
    except (SlackApiError, SlackClientError) as exc:
        raise SlackFailed(_reason(exc)) from exc


def send_slack_digests() -> int:
    """Beat, daily: one direct message per digest reader with everything since the last."""
    ws = workspace()
    if ws is None:
        return 0
    waiting = (
        Notification.objects.filter(slack_status=Notification.Delivery.DIGEST)
        .select_related("recipient")
        .order_by("recipient_id", "created_at")
    )
    grouped: dict[int, list[Notification]] = defaultdict(list)
    for n in waiting:
        grouped[n.recipient_id].append(n)
    sent = 0
    for items in grouped.values():
        try:
            send_dm(ws, items[0].recipient, items)
        except SlackFailed as exc:  # tomorrow's digest tries again; nothing is lost
            log.warning("Slack digest for %s failed: %s", items[0].recipient.username, exc)
            continue
        Notification.objects.filter(pk__in=[n.pk for n in items]).update(
            slack_status=Notification.Delivery.SENT
        )
        sent += 1
    return sent


# --- team channels -------------------------------------------------------------------------


def _channels() -> dict[int, str]:
    return dict(TeamChannel.objects.values_list("team_id", "channel"))


def _account_line(account: Account, detail: str) -> str:
    return f"• <{_link(account.get_absolute_url())}|{_escape(account.name)}>: {detail}"


def _post(
    team_id: int, channel: str, kind: str, title: str, lines: list[str], now: dt.datetime
) -> ChannelPost:
    shown = lines[:LISTED]
    more = len(lines) - len(shown)
    body = "\n".join(shown) + (f"\n…and {more} more" if more else "")
    post = ChannelPost.objects.create(
        team_id=team_id,
        channel=channel,
        kind=kind,
        text=f"{title}\n{body}",
        blocks=[
            {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": body[:2900]}},
        ],
        created_at=now,
    )
    from playbooks.tasks import deliver_channel_post

    send_on_commit(deliver_channel_post, post.pk)
    return post


def queue_band_change_posts(
    *, changes: Iterable[ScoreChange], now: dt.datetime | None = None
) -> list[ChannelPost]:
    """One post per team (with a channel) listing its accounts whose band changed, inside
    the caller's transaction (the score-event consumer's). First scores are not changes."""
    channels = _channels()
    moved = {c.account_id: c for c in changes if c.previous_band and c.band != c.previous_band}
    if not channels or not moved or workspace() is None:
        return []
    now = now or timezone.now()
    by_team: dict[int, list[str]] = defaultdict(list)
    accounts = Account.objects.filter(pk__in=list(moved), owner__team_id__in=list(channels))
    for account in accounts.select_related("owner").order_by("-arr"):
        change = moved[account.pk]
        score = f" (score {change.score:.0f})" if change.score is not None else ""
        detail = (
            f"{HealthBand(change.previous_band).label} → *{HealthBand(change.band).label}*{score}"
        )
        by_team[account.owner.team_id].append(_account_line(account, detail))  # type: ignore[union-attr, index]
    return [
        _post(
            team_id,
            channels[team_id],
            ChannelPost.Kind.BAND_CHANGES,
            f"{len(lines)} account{'s' if len(lines) != 1 else ''} changed health band",
            lines,
            now,
        )
        for team_id, lines in by_team.items()
    ]


@transaction.atomic
def post_renewal_risks(*, now: dt.datetime | None = None) -> list[ChannelPost]:
    """Beat, daily: each team's channel gets its accounts renewing within ``RENEWAL_DAYS``
    that are not green (biggest ARR first)."""
    channels = _channels()
    if not channels or workspace() is None:
        return []
    now = now or timezone.now()
    today = timezone.localdate(now)
    at_risk = (
        Account.objects.filter(
            owner__team_id__in=list(channels),
            renewal_date__gte=today,
            renewal_date__lte=today + dt.timedelta(days=RENEWAL_DAYS),
            health_band__in=[HealthBand.RED, HealthBand.YELLOW],
        )
        .exclude(lifecycle_stage=LifecycleStage.CHURNED)
        .select_related("owner")
        .order_by("-arr")
    )
    by_team: dict[int, list[str]] = defaultdict(list)
    for account in at_risk:
        days = (account.renewal_date - today).days  # type: ignore[operator]
        detail = (
            f"{HealthBand(account.health_band).label}, renews in {days} day{'s' if days != 1 else ''},"
            f" ARR {money(float(account.arr))}"
        )
        by_team[account.owner.team_id].append(_account_line(account, detail))  # type: ignore[union-attr, index]
    return [
        _post(
            team_id,
            channels[team_id],
            ChannelPost.Kind.RENEWAL_RISKS,
            f"{len(lines)} renewal{'s' if len(lines) != 1 else ''} at risk in the next {RENEWAL_DAYS} days",
            lines,
            now,
        )
        for team_id, lines in by_team.items()
    ]


def deliver_channel_post(*, post_id: int) -> ChannelPost | None:
    """Send one pending post; records the outcome, raises ``SlackFailed`` to be retried."""
    post = ChannelPost.objects.filter(pk=post_id).first()
    if post is None or post.status == Notification.Delivery.SENT:
        return post
    ws = workspace()
    if ws is None:
        post.status = Notification.Delivery.SKIPPED
        post.last_error = "no Slack workspace is connected"
        post.save(update_fields=["status", "last_error"])
        return post
    post.attempts += 1
    try:
        client_for(ws).chat_postMessage(
            channel=post.channel, text=post.text, blocks=post.blocks, unfurl_links=False
        )
    except (SlackApiError, SlackClientError) as exc:
        post.status = Notification.Delivery.FAILED
        post.last_error = _reason(exc)[:300]
        post.save(update_fields=["status", "attempts", "last_error"])
        raise SlackFailed(post.last_error) from exc
    post.status = Notification.Delivery.SENT
    post.sent_at = timezone.now()
    post.last_error = ""
    post.save(update_fields=["status", "attempts", "last_error", "sent_at"])
    return post


def retry_failed_channel_posts() -> int:
    ids = list(
        ChannelPost.objects.filter(
            status__in=[Notification.Delivery.FAILED, Notification.Delivery.PENDING],
            attempts__lt=MAX_ATTEMPTS,
            created_at__lt=timezone.now() - dt.timedelta(minutes=1),
        ).values_list("pk", flat=True)[:200]
    )
    from playbooks.tasks import deliver_channel_post

    for pk in ids:
        deliver_channel_post.delay(pk)
    return len(ids)
