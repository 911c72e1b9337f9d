"""The portfolio search's text (accounts_accountsearch) is kept by database triggers,
whatever writes the account: so the search finds what the row says, on SQLite and
PostgreSQL. The triggers come from accounts' migration
0002_postgres_indexes_and_search_triggers. (A later migration that rebuilds
accounts_account on SQLite would drop the triggers; these tests would then fail.)"""

from __future__ import annotations

import importlib

import pytest
from django.db import connection

from accounts.models import Account, AccountSearch, User
from accounts.selectors.portfolio import PortfolioQuery, portfolio_filtered

pytestmark = pytest.mark.django_db

ACCOUNTS_SQL = importlib.import_module(
    "accounts.migrations.0002_postgres_indexes_and_search_triggers"
)


def _found(user: User, text: str) -> set[str]:
    return set(
        portfolio_filtered(user, PortfolioQuery(search=text)).values_list("external_id", flat=True)
    )


def test_bulk_inserted_accounts_are_searchable_by_name_id_and_domain(csm: User) -> None:
    Account.objects.bulk_create(
        [
            Account(external_id="ACC-1", name="Northwind Traders", domain="northwind.example"),
            Account(external_id="ACC-2", name="Contoso", domain="contoso.example", owner=csm),
        ]
    )
    Account.objects.update(owner=csm)
    assert _found(csm, "wind trad") == {"ACC-1"}
    assert _found(csm, "acc-2") == {"ACC-2"}
    assert _found(csm, "CONTOSO.EX") == {"ACC-2"}
    assert _found(csm, "example") == {"ACC-1", "ACC-2"}
    # One line per field: a match never spans two of them.
    assert _found(csm, "Traders\nACC") == set()


def test_renames_follow_and_deletes_cascade(csm: User) -> None:
    account = Account.objects.create(external_id="ACC-9", name="Old Name", owner=csm)
    Account.objects.filter(pk=account.pk).update(name="Fresh Name", domain="fresh.example")
    assert _found(csm, "old name") == set()
    assert _found(csm, "fresh name") == {"ACC-9"}
    assert _found(csm, "fresh.example") == {"ACC-9"}
    account.external_id = "ACC-10"
    account.save()
    assert _found(csm, "acc-10") == {"ACC-10"}
    account.delete()
    assert not AccountSearch.objects.exists()


def test_search_stays_inside_the_book(csm: User, other_csm: User) -> None:
    Account.objects.create(external_id="MINE", name="Shared Word", owner=csm)
    Account.objects.create(external_id="THEIRS", name="Shared Word", owner=other_csm)
    assert _found(csm, "shared") == {"MINE"}


def test_the_migrations_copy_fills_the_table_from_existing_accounts_and_can_run_again(
    csm: User,
) -> None:
    """Accounts written before the triggers existed become searchable when the migration
    runs; running its copy again (after an unapply) rewrites rows instead of failing."""
    Account.objects.create(external_id="ACC-1", name="Northwind", domain="nw.example", owner=csm)
    Account.objects.create(external_id="ACC-2", name="Contoso", owner=csm)
    AccountSearch.objects.filter(account__external_id="ACC-1").delete()
    AccountSearch.objects.filter(account__external_id="ACC-2").update(document="stale")
    copy = {"postgresql": ACCOUNTS_SQL.PG_SEARCH, "sqlite": ACCOUNTS_SQL.SQLITE_FORWARD}[
        connection.vendor
    ][-1]
    assert copy.lstrip().startswith("INSERT")
    with connection.cursor() as cursor:
        cursor.execute(copy)
        cursor.execute(copy)
    assert dict(AccountSearch.objects.values_list("account__external_id", "document")) == {
        "ACC-1": "Northwind\nACC-1\nnw.example",
        "ACC-2": "Contoso\nACC-2\n",
    }


@pytest.mark.postgres
def test_a_health_update_leaves_the_search_row_alone(account: Account) -> None:
    """The point of the table: rewriting an account's health does not touch it (the
    trigger fires only when name, external id or domain change)."""

    def version() -> str:  # the row version's place: any rewrite moves it
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT ctid::text FROM accounts_accountsearch WHERE account_id = %s",
                [account.pk],
            )
            return str(cursor.fetchone()[0])

    before = version()
    Account.objects.filter(pk=account.pk).update(health_score=12.5, health_band="red")
    account.refresh_from_db()
    account.save()  # a full save writes name, external_id and domain unchanged
    assert version() == before
    Account.objects.filter(pk=account.pk).update(name="Renamed")
    assert version() != before
