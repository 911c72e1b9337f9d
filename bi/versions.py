"""Applying a schema version's SQL file (``bi/sql/v<N>.sql``) from a migration: on
PostgreSQL only, since SQLite has no schemas (and BI tools connect to PostgreSQL)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

SQL_DIR = Path(__file__).resolve().parent / "sql"


def sql_for(version: int) -> str:
    return (SQL_DIR / f"v{version}.sql").read_text(encoding="utf-8")


def apply_version(version: int) -> Any:
    """A ``RunPython`` function that creates (or replaces) the views of ``version``."""

    def forwards(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql_for(version))

    return forwards


def drop_schema(apps: Any, schema_editor: Any) -> None:
    """Unapplying the first version: the schema and every view in it go."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP SCHEMA IF EXISTS chs_bi CASCADE")
