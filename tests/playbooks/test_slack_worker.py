"""Slack through the real components: an account's fall into red waits in the score-event
outbox; a real Celery worker (PostgreSQL, Redis) fires the playbook, and the same worker
sends the owner's direct message and the team channel's band-change post to a local server
that answers like Slack's Web API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.utils import timezone
from pytest_httpserver import HTTPServer

from accounts.models import Account, Team, User
from chs_site.benchmarks import CeleryProcess
from chs_site.celery import app
from playbooks.models import ChannelPost, Notification, PlaybookAction, PlaybookRun, Task
from playbooks.services import slack
from scoring.models import ScoreEvent
from tests.conftest import wait_for
from tests.factories import PlaybookFactory
from tests.playbooks.test_slack import TOKEN, SlackFake

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def slack_fake(httpserver: HTTPServer) -> Iterator[SlackFake]:
    yield SlackFake(server=httpserver).install()


def test_a_worker_sends_the_direct_message_and_the_channel_post_for_an_account_into_red(
    celery_worker_process: CeleryProcess,
    admin: User,
    csm: User,
    team: Team,
    account: Account,
    slack_fake: SlackFake,
) -> None:
    slack.connect_workspace(actor=admin, token=TOKEN, api_base=slack_fake.base)
    slack.set_team_channel(actor=admin, team=team, channel="#cs-atlas")
    slack_fake.users[csm.email] = "U0CSM"
    playbook = PlaybookFactory.create(name="Fell into red → call within 2 days")
    PlaybookAction.objects.create(
        playbook=playbook,
        kind=PlaybookAction.Kind.NOTIFY,
        title_template="{account_name} fell into red",
        assignee_rule=PlaybookAction.AssigneeRule.OWNER,
    )
    # The account's change waits in the outbox, as a recompute leaves it; the worker takes it.
    ScoreEvent.objects.create(
        kind=ScoreEvent.Kind.SCORE,
        account=account,
        previous_score=72,
        previous_band="green",
        score=5,
        band="red",
        created_at=timezone.now(),
    )
    app.send_task("playbooks.process_score_events")

    assert wait_for(
        lambda: {p["channel"] for p in slack_fake.posted} >= {"U0CSM", "#cs-atlas"}, timeout=60
    ), (
        slack_fake.posted,
        list(Account.objects.values_list("health_band", "computed_band", "computed_score")),
        list(PlaybookRun.objects.values_list("account_id", "reason")),
        list(Task.objects.values_list("title", flat=True)),
        list(Notification.objects.values_list("title", "slack_status", "last_error")),
    )
    dm = next(p for p in slack_fake.posted if p["channel"] == "U0CSM")
    assert dm["text"] == "Acme Corp fell into red"
    post = next(p for p in slack_fake.posted if p["channel"] == "#cs-atlas")
    assert "Green → *Red*" in post["blocks"][1]["text"]["text"]
    assert wait_for(
        lambda: Notification.objects.filter(recipient=csm, slack_status="sent").exists(), timeout=10
    )
    assert ChannelPost.objects.get().status == "sent"
    # Exactly once each, though the outbox's beat sweep and the nudges both ran.
    assert [p["channel"] for p in slack_fake.posted].count("U0CSM") == 1
    assert [p["channel"] for p in slack_fake.posted].count("#cs-atlas") == 1
