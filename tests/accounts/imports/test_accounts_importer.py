"""The accounts importer (accounts/imports/accounts.py): creates and updates accounts within
the importing user's scope and names each bad row."""

from __future__ import annotations

import datetime as dt

import pytest

from accounts.models import Account, User
from tests.accounts.imports.helpers import run, upload

pytestmark = pytest.mark.django_db


def test_accounts_import_creates_and_updates(admin: User, csm: User, account: Account) -> None:
    text = 'external_id,name,owner,arr,renewal_date,segment\nACME-1,Acme Renamed,csm,1000,2027-01-31,Enterprise\nNEW-1,Newco,csm,"2,500.50",,SMB\n'
    job = run(upload(admin, "accounts", text), admin)
    assert job.status == "succeeded", (job.message, job.errors)
    assert job.result == {"rows": 2, "created": 1, "updated": 1}
    account.refresh_from_db()
    assert (account.name, str(account.arr), account.renewal_date, account.segment) == (
        "Acme Renamed",
        "1000.00",
        dt.date(2027, 1, 31),
        "Enterprise",
    )
    new = Account.objects.get(external_id="NEW-1")
    assert (new.owner, str(new.arr), new.renewal_date) == (csm, "2500.50", None)


def test_accounts_import_keeps_the_owner_sort_key(admin: User, csm: User, teammate: User) -> None:
    User.objects.filter(pk=teammate.pk).update(first_name="Anna", last_name="Young")
    existing = Account.objects.create(external_id="ACME-1", name="Acme", owner=csm)
    text = "external_id,name,owner\nACME-1,Acme,teammate\nNEW-1,Newco,\n"
    assert run(upload(admin, "accounts", text), admin).status == "succeeded"
    existing.refresh_from_db()
    assert (existing.owner, existing.owner_sort_name) == (teammate, "anna young")
    assert Account.objects.get(external_id="NEW-1").owner_sort_name == ""


@pytest.mark.parametrize(
    ("row", "column", "reason"),
    [
        ("NEW-2,,csm,1,,", "name", "new accounts need a name"),
        ("NEW-2,X,ghost,1,,", "owner", "'ghost' is not a user you may assign accounts to"),
        ("NEW-2,X,csm,-1,,", "arr", "must be between 0 and 10^12"),
        ("NEW-2,X,csm,abc,,", "arr", "'abc' is not a number"),
        ("NEW-2,X,csm,1,31/12/2026,", "renewal_date", "is not a date"),
        ("NEW-2,X,csm,1,,zombie", "lifecycle_stage", "'zombie' is not one of"),
        ("NEW-1,Again,csm,1,,", "external_id", "appears twice in the file (also line 2)"),
    ],
)
def test_each_bad_account_row_is_reported(
    admin: User, csm: User, row: str, column: str, reason: str
) -> None:
    text = f"external_id,name,owner,arr,renewal_date,lifecycle_stage\nNEW-1,Newco,csm,1,,\n{row}\n"
    job = run(upload(admin, "accounts", text), admin)
    assert job.status == "failed"
    assert [(e["line"], e["column"]) for e in job.errors] == [(3, column)], job.errors
    assert reason in job.errors[0]["reason"]
    assert not Account.objects.exists()


def test_manager_cannot_touch_accounts_outside_the_team(
    manager: User, csm: User, other_account: Account, other_csm: User
) -> None:
    text = "external_id,name,owner\nOTHER-1,Hijack,csm\nNEW-1,Mine,other_csm\nNEW-2,Fine,csm\n"
    job = run(upload(manager, "accounts", text), manager)
    assert [(e["line"], e["column"]) for e in job.errors] == [(2, "external_id"), (3, "owner")]
    assert Account.objects.count() == 1
