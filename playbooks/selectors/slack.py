"""What the Slack page shows: the workspace, each team's channel, and what was sent."""

from __future__ import annotations

from dataclasses import dataclass

from accounts.models import Team
from playbooks.models import ChannelPost, Notification, SlackWorkspace, TeamChannel

RECENT = 30


@dataclass(frozen=True)
class SlackOverview:
    workspace: SlackWorkspace | None
    teams: list[tuple[Team, str]]  # each team and its channel ("" for none)
    posts: list[ChannelPost]
    messages: list[Notification]  # direct messages and webhook posts, newest first


def slack_overview() -> SlackOverview:
    channels = dict(TeamChannel.objects.values_list("team_id", "channel"))
    return SlackOverview(
        workspace=SlackWorkspace.objects.select_related("connected_by").order_by("pk").first(),
        teams=[(team, channels.get(team.pk, "")) for team in Team.objects.order_by("name")],
        posts=list(ChannelPost.objects.select_related("team")[:RECENT]),
        messages=list(
            Notification.objects.exclude(slack_status=Notification.Delivery.SKIPPED)
            .select_related("recipient")
            .order_by("-created_at", "-id")[:RECENT]
        ),
    )
