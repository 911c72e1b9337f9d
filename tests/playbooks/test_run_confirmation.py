"""*Run now* says who gets what (the preview's numbers) and runs only when confirmed."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import Account
from chs_site.confirm import CONFIRM_FIELD, CONFIRM_VALUE
from playbooks.models import PlaybookRun, Task
from playbooks.selectors.playbooks import preview_playbook
from tests.factories import PlaybookFactory

pytestmark = pytest.mark.django_db


def test_run_now_confirmation_shows_the_previews_counts_and_creates_nothing(
    admin_client: Client, account: Account
) -> None:
    playbook = PlaybookFactory.create(name="Fell into red")
    Account.objects.filter(pk=account.pk).update(health_band="red")
    preview = preview_playbook(playbook, now=timezone.now())
    assert preview.firing == 1
    page = admin_client.get(f"/playbooks/{playbook.pk}/run/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "Run “Fell into red” now?" in html
    assert "It fires for 1 account and creates 1 task." in html
    who, n = preview.by_assignee[0]
    assert f"{who}: {n} task." in html
    assert not Task.objects.exists() and not PlaybookRun.objects.exists()


def test_run_now_without_confirmation_is_refused(admin_client: Client, account: Account) -> None:
    playbook = PlaybookFactory.create(name="Fell into red")
    Account.objects.filter(pk=account.pk).update(health_band="red")
    response = admin_client.post(f"/playbooks/{playbook.pk}/run/")
    assert response.status_code == 400
    assert "needs an explicit confirmation" in response.content.decode()
    assert not Task.objects.exists()


def test_confirmed_run_now_creates_the_announced_tasks(
    admin_client: Client, account: Account
) -> None:
    playbook = PlaybookFactory.create(name="Fell into red")
    Account.objects.filter(pk=account.pk).update(health_band="red")
    response = admin_client.post(f"/playbooks/{playbook.pk}/run/", {CONFIRM_FIELD: CONFIRM_VALUE})
    assert response.status_code == 302 and Task.objects.count() == 1


def test_run_now_confirmation_is_not_for_managers(manager_client: Client, account: Account) -> None:
    playbook = PlaybookFactory.create(name="Fell into red")
    assert manager_client.get(f"/playbooks/{playbook.pk}/run/").status_code == 404
