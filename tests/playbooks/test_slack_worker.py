"""Slack through the real components: values posted to the API push an account into red; a
real Celery worker (PostgreSQL, Redis) rescores it, the playbook fires, and the same worker
sends the owner's direct message and the team channel's band-change post to a local server
that answers like Slack's Web API."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from django.utils import timezone
from pytest_httpserver import HTTPServer

from accounts.models import Account, Team, User
from chs_site.benchmarks import CeleryProcess
from playbooks.models import ChannelPost, Notification, PlaybookAction
from playbooks.services import slack
from scoring.models import Measure, MetricDefinition, Scorecard
from tests.api.helpers import api_for
from tests.conftest import wait_for
from tests.factories import PlaybookFactory
from tests.playbooks.test_slack import TOKEN, SlackFake

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def slack_fake(httpserver: HTTPServer) -> Iterator[SlackFake]:
    yield SlackFake(server=httpserver).install()


def _post(client: object, value: float, at: dt.datetime) -> None:
    response = client.post(  # type: ignore[attr-defined]
        "/api/v1/metrics/",
        {
            "values": [
                {
                    "account": "ACME-1",
                    "metric": "usage",
                    "value": value,
                    "observed_at": at.isoformat(),
                }
            ]
        },
    )
    assert response.status_code == 202, response.content


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
    usage = MetricDefinition.objects.create(key="usage", name="Usage")
    card = Scorecard.objects.create(name="Default", status="active")
    Measure.objects.create(scorecard=card, metric=usage, weight=1, bad=0, good=100)
    playbook = PlaybookFactory.create(name="Fell into red → call within 2 days")
    PlaybookAction.objects.create(
        playbook=playbook,
        kind=PlaybookAction.Kind.NOTIFY,
        title_template="{account_name} fell into red",
        assignee_rule=PlaybookAction.AssigneeRule.OWNER,
    )
    client = api_for(csm, "ingest")
    now = timezone.now()
    _post(client, 80, now - dt.timedelta(hours=2))
    assert wait_for(lambda: Account.objects.get(pk=account.pk).health_band == "green", timeout=30)

    _post(client, 5, now - dt.timedelta(minutes=1))

    assert wait_for(
        lambda: {p["channel"] for p in slack_fake.posted} >= {"U0CSM", "#cs-atlas"}, timeout=60
    ), slack_fake.posted
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
