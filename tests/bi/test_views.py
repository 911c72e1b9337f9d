"""The BI schema: every view holds exactly the documented columns (bi/schema.py, and the
README's table is generated from it), the views return CHS's data under their stable names,
and the role ``create_bi_role`` makes reads the views and nothing else."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from accounts.models import Account, AuditEntry, User
from bi.schema import SCHEMA, VERSION, VIEWS, markdown
from scoring.models import Outcome, Score, Scorecard
from tests.factories import TaskFactory

ROOT = Path(__file__).resolve().parents[2]


def _columns() -> dict[str, list[str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = %s ORDER BY table_name, ordinal_position",
            [SCHEMA],
        )
        found: dict[str, list[str]] = {}
        for table, column in cursor.fetchall():
            found.setdefault(table, []).append(column)
        return found


def test_the_readme_documents_the_schema_as_bi_schema_says() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert markdown() in readme, "regenerate the README's table with bi.schema.markdown()"


@pytest.mark.postgres
@pytest.mark.django_db
def test_every_view_has_exactly_the_documented_columns_in_order() -> None:
    documented = {view: list(columns) for view, (_, columns) in VIEWS.items()}
    assert _columns() == documented
    with connection.cursor() as cursor:
        cursor.execute("SELECT obj_description(%s::regnamespace, 'pg_namespace')", [SCHEMA])
        assert cursor.fetchone() == (f"CHS read-only views for BI tools, schema version {VERSION}",)


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_views_show_chs_data_under_their_stable_names(account: Account, csm: User) -> None:
    card = Scorecard.objects.create(name="Default", status=Scorecard.Status.ACTIVE, version=3)
    now = timezone.now()
    Score.objects.create(
        account=account,
        scorecard=card,
        score=42.5,
        band="yellow",
        computed_at=now,
        breakdown=[
            {
                "metric": "nps",
                "name": "NPS",
                "aggregation": "latest",
                "window_days": 90,
                "value": 4.0,
                "points": 40.0,
                "weight": 2.0,
                "contribution": 26.7,
                "stale": False,
            },
            {
                "metric": "logins",
                "name": "Logins",
                "aggregation": "avg",
                "window_days": 30,
                "value": None,
                "points": None,
                "weight": 1.0,
                "contribution": 0.0,
                "stale": True,
            },
        ],
    )
    TaskFactory.create(account=account, assignee=csm, created_at=now)
    Outcome.objects.create(account=account, kind="renewed", occurred_at=dt.date(2026, 1, 31))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT account_id, owner_username, team FROM {SCHEMA}.accounts")
        assert csm.team is not None
        assert cursor.fetchall() == [(account.external_id, csm.username, csm.team.name)]
        cursor.execute(
            f"SELECT account_id, score, band, scorecard_version FROM {SCHEMA}.score_history"
        )
        assert cursor.fetchall() == [(account.external_id, 42.5, "yellow", 3)]
        cursor.execute(
            f"SELECT position, metric, value, points, stale FROM {SCHEMA}.measure_points"
            " ORDER BY position"
        )
        assert cursor.fetchall() == [(1, "nps", 4.0, 40.0, False), (2, "logins", None, None, True)]
        cursor.execute(f"SELECT account_id, assignee_username, status FROM {SCHEMA}.tasks")
        assert cursor.fetchall() == [(account.external_id, csm.username, "open")]
        cursor.execute(f"SELECT account_id, kind, occurred_on FROM {SCHEMA}.outcomes")
        assert cursor.fetchall() == [(account.external_id, "renewed", dt.date(2026, 1, 31))]


@pytest.fixture
def bi_role() -> Iterator[str]:
    """A role name for this test, dropped afterwards (roles belong to the whole cluster)."""
    name = f"chs_bi_test_{uuid.uuid4().hex[:8]}"
    yield name
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [name])
        if cursor.fetchone():
            cursor.execute(f"DROP OWNED BY {name}")
            cursor.execute(f"DROP ROLE {name}")


def _connect_as(role: str, password: str) -> psycopg.Connection:
    params = connection.settings_dict
    return psycopg.connect(
        host=params.get("HOST") or "127.0.0.1",
        port=params.get("PORT") or 5432,
        dbname=params["NAME"],
        user=role,
        password=password,
        autocommit=True,
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_bi_role_reads_every_view_and_nothing_else(bi_role: str, account: Account) -> None:
    call_command("create_bi_role", bi_role, password="first")
    call_command("create_bi_role", bi_role, password="second")  # again: updated, not an error
    entries = AuditEntry.objects.filter(object_type="bi_role", object_id=bi_role)
    assert sorted(entries.values_list("action", flat=True)) == ["created", "updated"]
    assert all("second" not in str(e.changes) for e in entries)
    # A view a later schema version adds is readable too (default privileges).
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE VIEW {SCHEMA}.later_version AS SELECT 1 AS one")
    try:
        with _connect_as(bi_role, "second") as bi:
            for view in VIEWS:
                bi.execute(f"SELECT * FROM {SCHEMA}.{view} LIMIT 1").fetchall()
            assert bi.execute(f"SELECT account_id FROM {SCHEMA}.accounts").fetchall() == [
                (account.external_id,)
            ]
            assert bi.execute(f"SELECT one FROM {SCHEMA}.later_version").fetchall() == [(1,)]
            for view in VIEWS:
                writable = bi.execute(
                    "SELECT has_table_privilege(current_user, %s,"
                    " 'INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')",
                    [f"{SCHEMA}.{view}"],
                ).fetchone()
                assert writable == (False,), view
            for statement in (
                "SELECT * FROM accounts_account",
                "SELECT * FROM scoring_metricvalue",
                "SELECT * FROM surveys_recipient",
                "DELETE FROM accounts_account",
                f"CREATE VIEW {SCHEMA}.mine AS SELECT 1",
                "CREATE TABLE public.mine (id int)",
            ):
                with pytest.raises(psycopg.Error) as refused:
                    bi.execute(statement)
                assert isinstance(
                    refused.value,
                    psycopg.errors.InsufficientPrivilege | psycopg.errors.ReadOnlySqlTransaction,
                ), statement
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP VIEW {SCHEMA}.later_version")


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_role_name_that_needs_quoting_is_refused() -> None:
    with pytest.raises(CommandError, match="not a usable role name"):
        call_command("create_bi_role", 'x"; DROP TABLE accounts_account; --', password="p")
    with pytest.raises(CommandError, match="password"):
        call_command("create_bi_role", "reader", password="")


@pytest.mark.django_db
def test_on_sqlite_there_are_no_views_and_the_command_says_why() -> None:
    if settings.IS_POSTGRES:
        pytest.skip("SQLite's behaviour")
    with pytest.raises(CommandError, match="PostgreSQL only"):
        call_command("create_bi_role", "reader", password="p")
