"""Surveys against the real components: a Celery worker (PostgreSQL, Redis) sends a
campaign in batches, and two campaigns queued at once on PostgreSQL survey a person once."""

from __future__ import annotations

import threading
import time
from collections import Counter
from unittest import mock

import pytest
from django.db import connection

from accounts.models import AuditEntry, User
from chs_site.benchmarks import CeleryProcess
from chs_site.errors import ValidationFailed
from surveys.models import Campaign, Recipient, Survey
from surveys.selectors import AudienceFilters
from surveys.services import campaigns
from surveys.services.campaigns import start_campaign
from tests.conftest import wait_for
from tests.factories import AccountFactory, ContactFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.worker
def test_a_worker_sends_a_campaign_in_batches_and_finishes_it(
    celery_worker_process: CeleryProcess, admin: User, csm: User
) -> None:
    survey = Survey.objects.create(
        name="NPS", kind="nps", question="Recommend us?", follow_up="Why?"
    )
    for i in range(5):
        ContactFactory.create(account=AccountFactory.create(owner=csm), email=f"c{i}@example.com")
    campaign = start_campaign(actor=admin, survey=survey, filters=AudienceFilters())

    def finished() -> bool:
        return Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.SENT

    assert wait_for(finished, timeout=30), celery_worker_process.log_tail()
    recipients = Recipient.objects.filter(campaign=campaign)
    assert set(recipients.values_list("status", flat=True)) == {Recipient.Status.SENT}
    # The worker's batches hold 2 (tests/conftest.py): each batch stamps its own time.
    per_batch = Counter(recipients.values_list("sent_at", flat=True))
    assert sorted(per_batch.values()) == [1, 2, 2]
    entry = AuditEntry.objects.get(object_type="survey_campaign", action="finished")
    assert entry.changes["recipients_sent"] == [None, 5] and entry.source == "task"


@pytest.mark.postgres
def test_two_campaigns_started_at_once_survey_a_contact_once(admin: User, csm: User) -> None:
    survey = Survey.objects.create(
        name="NPS", kind="nps", question="Recommend us?", follow_up="Why?"
    )
    ContactFactory.create(account=AccountFactory.create(owner=csm), email="once@example.com")
    real_audience = campaigns.audience

    def slow_audience(*args: object, **kwargs: object) -> object:
        found = real_audience(*args, **kwargs)  # type: ignore[arg-type]
        time.sleep(0.5)  # both would have read the throttle before either commits
        return found

    outcomes: list[str] = []

    def start() -> None:
        try:
            start_campaign(actor=admin, survey=survey, filters=AudienceFilters())
            outcomes.append("queued")
        except ValidationFailed:
            outcomes.append("throttled")
        finally:
            connection.close()

    with mock.patch.object(campaigns, "audience", slow_audience):
        threads = [threading.Thread(target=start) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=20)
    assert sorted(outcomes) == ["queued", "throttled"]
    assert Recipient.objects.filter(email="once@example.com").count() == 1
