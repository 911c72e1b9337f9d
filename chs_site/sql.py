"""Small helpers for the hand-written PostgreSQL that bulk paths use (COPY, array params).

The ORM builds one parameter per value and one model object per row; for batches of
thousands that costs more than the work itself, so the recompute, the ingest upsert and
the bulk loaders write COPY text and pass ids as one array literal instead."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

COPY_NULL = "\\N"  # NULL in COPY's text format
# Rows per bulk_create statement where the ORM path is kept (SQLite, small writes).
BULK_BATCH = 2000


def id_array(ids: Iterable[int]) -> str:
    """Ids as a PostgreSQL array literal, for an ``= ANY(%s::bigint[])`` parameter: one
    string to quote (psycopg dumps a list of thousands of ints element by element)."""
    return "{" + ",".join(map(str, ids)) + "}"


def json_text(value: Any) -> str:
    """``value`` as JSON text (a string is taken to be JSON already)."""
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def copy_text(value: str) -> str:
    """A value in COPY's text format: backslashes, tabs and line breaks escaped."""
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return (
            value.replace("\\", "\\\\")
            .replace("\t", "\\t")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
        )
    return value


def copy_float(value: float | None) -> str:
    return COPY_NULL if value is None else repr(float(value))
