"""A campaign sent by a real Celery worker (PostgreSQL, Redis), in batches."""

from __future__ import annotations

from collections import Counter

import pytest

from accounts.models import AuditEntry, User
from chs_site.benchmarks import CeleryProcess
from surveys.models import Campaign, Recipient, Survey
from surveys.selectors import AudienceFilters
from surveys.services.campaigns import start_campaign
from tests.conftest import wait_for
from tests.factories import AccountFactory, ContactFactory

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


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
