"""Data migrations: what they fill in matches what the services keep afterwards."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from accounts.models import Account, User
from tests.factories import AccountFactory
from tests.playbooks.factories import TaskFactory

pytestmark = pytest.mark.django_db


def test_0008_backfills_open_task_counts_and_owner_sort_names(
    csm: User, teammate: User, account: Account
) -> None:
    migration = importlib.import_module("accounts.migrations.0008_portfolio_task_and_owner_sort")
    User.objects.filter(pk=csm.pk).update(first_name="Zoë", last_name="ADAMS")
    User.objects.filter(pk=teammate.pk).update(first_name="", last_name="")
    theirs = AccountFactory.create(owner=teammate)
    orphan = AccountFactory.create(owner=None)
    for status in ("open", "open", "snoozed", "done"):
        TaskFactory.create(account=account, status=status, snoozed_until="2099-01-01")
    TaskFactory.create(account=theirs, status="cancelled")
    # As before the migration: nothing stored yet.
    Account.objects.update(open_task_count=0, owner_sort_name="")

    migration.backfill(apps, None)

    got = {
        a.pk: (a.open_task_count, a.owner_sort_name)
        for a in Account.objects.filter(pk__in=[account.pk, theirs.pk, orphan.pk])
    }
    assert got == {
        account.pk: (2, "zoë adams"),
        theirs.pk: (0, "teammate"),  # no name: the username, as the column shows it
        orphan.pk: (0, ""),
    }
