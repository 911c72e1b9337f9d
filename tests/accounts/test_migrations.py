"""The migrations: they leave no model change pending, build the schema the models and
the hand-written SQL describe."""

from __future__ import annotations

import importlib
import io
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from accounts.models import Account, Activity, Feedback, User

pytestmark = pytest.mark.django_db

ACCOUNTS_SQL = importlib.import_module(
    "accounts.migrations.0002_postgres_indexes_and_search_triggers"
)


def test_the_migrations_leave_no_model_change_pending() -> None:
    out = io.StringIO()
    # Exits with status 1 (SystemExit) when a model change has no migration.
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


def _activity_indexes() -> dict[str, str]:
    """Index name → definition for accounts_activity, on PostgreSQL or SQLite."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'accounts_activity'"
            )
        else:
            cursor.execute(
                "SELECT name, sql FROM sqlite_master"
                " WHERE type = 'index' AND tbl_name = 'accounts_activity' AND sql IS NOT NULL"
            )
        return {name: " ".join(definition.split()) for name, definition in cursor.fetchall()}


def test_activity_keys_are_indexed_only_where_set_and_deletes_follow_them(
    csm: User, account: Account
) -> None:
    indexes = _activity_indexes()
    for name, column in (("activity_actor", "actor_id"), ("activity_feedback", "feedback_id")):
        assert "WHERE" in indexes[name] and column in indexes[name].split("WHERE")[1]
        # No full index on the key is left beside the partial one.
        assert [n for n, d in indexes.items() if column in d and "WHERE" not in d] == []

    now = timezone.now()
    feedback = Feedback.objects.create(account=account, kind="note", text="Hi", occurred_at=now)
    by_csm = Activity.objects.create(
        account=account, kind="plan", actor=csm, occurred_at=now, summary="Plan"
    )
    Activity.objects.create(
        account=account, kind="feedback", feedback=feedback, occurred_at=now, summary="Note"
    )
    band = Activity.objects.create(
        account=account, kind="band_changed", occurred_at=now, summary="Entered red"
    )

    feedback.delete()  # CASCADE: its activity goes with it, the others stay
    assert set(Activity.objects.values_list("pk", flat=True)) == {by_csm.pk, band.pk}
    csm.delete()  # SET_NULL: the activity stays, without its actor
    by_csm.refresh_from_db()
    assert by_csm.actor_id is None


def _pg_rows(sql: str) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return list(cursor.fetchall())


@pytest.mark.postgres
def test_postgres_gets_the_hand_written_indexes_and_table_settings() -> None:
    indexes: dict[str, str] = dict(
        _pg_rows(
            "SELECT indexname, indexdef FROM pg_indexes"
            " WHERE tablename IN ('accounts_account', 'accounts_accountsearch')"
        )
    )
    for name in ACCOUNTS_SQL.PG_ACCOUNT_INDEXES:
        assert "DESC NULLS LAST" in indexes[name], name
    assert "gin_trgm_ops" in indexes["account_search_trgm"]
    # external_id's LIKE twin is gone; its unique index stays.
    external_id = [d for d in indexes.values() if "(external_id" in d]
    assert len(external_id) == 1 and "UNIQUE" in external_id[0]
    assert _pg_rows("SELECT reloptions FROM pg_class WHERE relname = 'accounts_account'") == [
        (["fillfactor=85"],)
    ]
    [(unique,)] = _pg_rows(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conname = 'metric_value_unique_observation'"
    )
    assert unique == "UNIQUE (account_id, metric_id, observed_at) INCLUDE (value)"
