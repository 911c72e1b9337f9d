"""The demo: its four playbooks (red, renewal risk, detractor, score drop) enabled; plan
templates; tasks; seeding twice changes nothing."""

from __future__ import annotations

import pytest
from django.utils import timezone

from accounts import demo as accounts_demo
from accounts.models import Account
from playbooks import demo
from playbooks.models import Playbook, SuccessPlan, SuccessPlanTemplate, Task

pytestmark = pytest.mark.django_db


def test_demo_playbooks_templates_and_tasks_are_seeded_once() -> None:
    today = timezone.localdate()
    accounts_demo.seed(today=today)
    red = list(Account.objects.order_by("external_id").values_list("pk", flat=True)[:10])
    Account.objects.filter(pk__in=red).update(health_band="red", health_score=30)
    first = demo.seed(today=today)
    assert set(Playbook.objects.filter(enabled=True).values_list("name", flat=True)) >= {
        "Fell into red → call within 2 days",
        "Renewal in 90 days and not green → renewal-risk review",
        "NPS detractor → follow up",
        "Score dropped 15+ points in 14 days → check usage",
    }
    assert set(SuccessPlanTemplate.objects.values_list("name", flat=True)) == {
        "Onboarding",
        "Back to green",
        "Renewal",
    }
    red_tasks = Task.objects.filter(playbook__name__startswith="Fell into red")
    assert set(red_tasks.values_list("account_id", flat=True)) == set(red)
    assert all(t.assignee == t.account.owner for t in red_tasks.select_related("account"))
    assert Task.objects.filter(assignee__username="csm1", playbook=None).count() == 4
    assert first["tasks"] == Task.objects.count()
    # Onboarding and recovery plans by hand, renewal plans started by the renewal playbook.
    assert SuccessPlan.objects.count() >= first["plans"] > 0
    counts = (Task.objects.count(), SuccessPlan.objects.count(), Playbook.objects.count())
    again = demo.seed(today=today)
    assert again == {"plan_templates": 0, "playbooks": 0, "tasks": 0, "plans": 0}
    assert (Task.objects.count(), SuccessPlan.objects.count(), Playbook.objects.count()) == counts
