"""Beat entries for time-based triggers, snooze reopening, retries and digests point at
registered tasks, and those tasks do their job when beat sends them."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.utils import timezone

from accounts.models import Account, User
from chs_site.celery import app
from playbooks import tasks
from playbooks.models import Task, TriggerType
from tests.factories import PlaybookFactory, TaskFactory

pytestmark = pytest.mark.django_db


def test_playbook_beat_entries_name_registered_tasks() -> None:
    app.loader.import_default_modules()
    entries = {k: v for k, v in settings.CELERY_BEAT_SCHEDULE.items() if k.startswith("playbooks-")}
    assert set(entries) == {
        "playbooks-process-score-events",
        "playbooks-time-triggers",
        "playbooks-reopen-snoozed",
        "playbooks-retry-notifications",
        "playbooks-digests",
        "playbooks-retry-channel-posts",
        "playbooks-renewal-risks",
        "playbooks-slack-digests",
    }
    for entry in entries.values():
        assert entry["task"] in app.tasks, entry["task"]


def test_beat_tasks_fire_time_triggers_and_reopen_snoozed(csm: User, account: Account) -> None:
    playbook = PlaybookFactory.create(
        trigger_type=TriggerType.RENEWAL_WINDOW, band="", days=30, bands=["yellow"]
    )
    Account.objects.filter(pk=account.pk).update(
        renewal_date=timezone.localdate() + dt.timedelta(days=10), health_band="yellow"
    )
    snoozed = TaskFactory.create(
        account=account, status="snoozed", snoozed_until=timezone.localdate()
    )
    app.tasks["playbooks.evaluate_time_triggers"].delay()
    tasks.reopen_snoozed_tasks.delay()
    assert Task.objects.filter(playbook=playbook, account=account).count() == 1
    snoozed.refresh_from_db()
    assert snoozed.status == "open"
