"""The rows a recompute writes, in bulk: score history, "band changed" timeline lines and
the accounts' denormalised health (its score events: ``scoring.services.events``).

On PostgreSQL each kind of row goes in with one COPY (or one statement) per batch: binding
parameters per row, or a model object per row, costs more than the rest of the batch. The
functions take plain tuples; SQLite (the embedded default) takes the ORM path."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from django.db import connection

from accounts.models import Activity
from chs_site.sql import BULK_BATCH, copy_float, copy_text, json_text
from scoring.models import Score

_SQL_COPY_ACTIVITIES = (
    "COPY accounts_activity (account_id, kind, occurred_at, summary, details) FROM STDIN"
)


def insert_band_activities(rows: list[tuple[int, str, float | None, str]], *, at: datetime) -> None:
    """One "band changed" activity per (account, old band, score, new band), one COPY."""
    if not rows:
        return
    kind = Activity.Kind.BAND_CHANGED.value
    if connection.vendor == "postgresql":
        stamp = at.isoformat()
        lines = [
            f"{account_id}\t{kind}\t{stamp}\t{copy_text(band_summary(old, new, score))}\t"
            f"{copy_text(json_text({'from': old, 'to': new, 'score': score}))}\n"
            for account_id, old, score, new in rows
        ]
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(_SQL_COPY_ACTIVITIES) as copy,  # type: ignore[attr-defined]
        ):
            copy.write("".join(lines))
        return
    Activity.objects.bulk_create(
        [
            Activity(
                account_id=account_id,
                kind=kind,
                occurred_at=at,
                summary=band_summary(old, new, score),
                details={"from": old, "to": new, "score": score},
            )
            for account_id, old, score, new in rows
        ],
        batch_size=BULK_BATCH,
    )


_HEALTH_FIELDS = (
    "health_score",
    "health_band",
    "computed_score",
    "computed_band",
    "computed_at",
    "score_change_30d",
    "top_mover",
)

# Rows travel as one JSON document: one parameter to quote instead of thousands (psycopg's
# client-side array quoting costs seconds for a few thousand rows).
_SQL_UPDATE_HEALTH = """
UPDATE accounts_account AS a SET
    health_score = v.health_score, health_band = v.health_band,
    computed_score = v.computed_score, computed_band = v.computed_band,
    computed_at = v.computed_at, score_change_30d = v.score_change_30d, top_mover = v.top_mover
FROM jsonb_to_recordset(%s::jsonb) AS v(
    id bigint, health_score float8, health_band varchar, computed_score float8,
    computed_band varchar, computed_at timestamptz, score_change_30d float8, top_mover varchar)
WHERE a.id = v.id
"""


# The breakdown as a list of dicts or as its JSON text (what the batch recompute has).
ScoreRowIn = tuple[int, int, float | None, str, datetime, list[dict[str, Any]] | str]


def insert_scores(rows: list[Score]) -> None:
    """History rows, bulk (``insert_score_rows`` for model instances). Sets ``pk``."""
    ids = insert_score_rows(
        [(r.account_id, r.scorecard_id, r.score, r.band, r.computed_at, r.breakdown) for r in rows]
    )
    for row, pk in zip(rows, ids, strict=True):
        row.pk = pk


def insert_score_rows(rows: Sequence[ScoreRowIn]) -> list[int]:
    """History rows (account_id, scorecard_id, score, band, computed_at, breakdown), bulk;
    returns their ids. On PostgreSQL the ids are reserved in one query, then the rows go in
    by COPY (``bulk_create`` binds six parameters per row and is several times slower)."""
    if not rows:
        return []
    if connection.vendor != "postgresql":
        objs = Score.objects.bulk_create(
            [
                Score(
                    account_id=a,
                    scorecard_id=c,
                    score=score,
                    band=band,
                    computed_at=moment,
                    breakdown=orjson.loads(breakdown) if isinstance(breakdown, str) else breakdown,
                )
                for a, c, score, band, moment, breakdown in rows
            ],
            batch_size=BULK_BATCH,
        )
        return [int(o.pk) for o in objs]
    stamps: dict[datetime, str] = {}  # a batch shares one moment: format it once
    with connection.cursor() as cursor:
        cursor.execute(_SQL_RESERVE_SCORE_IDS, [len(rows)])
        ids = [pk for (pk,) in cursor.fetchall()]
        lines = [
            f"{pk}\t{a}\t{c}\t{copy_float(score)}\t{band}\t"
            f"{stamps.get(moment) or stamps.setdefault(moment, moment.isoformat())}\t"
            f"{copy_text(json_text(breakdown))}\n"
            for pk, (a, c, score, band, moment, breakdown) in zip(ids, rows, strict=True)
        ]
        with cursor.cursor.copy(_SQL_COPY_SCORES) as copy:  # type: ignore[attr-defined]
            copy.write("".join(lines))
    return ids


_SQL_RESERVE_SCORE_IDS = (
    "SELECT nextval(pg_get_serial_sequence('scoring_score', 'id')) FROM generate_series(1, %s)"
)
_SQL_COPY_SCORES = (
    "COPY scoring_score (id, account_id, scorecard_id, score, band, computed_at, breakdown)"
    " FROM STDIN"
)


def update_account_health(rows: list[tuple[Any, ...]]) -> None:
    """The accounts' denormalised health in one statement; ``rows`` are (id, *_HEALTH_FIELDS)
    (``bulk_update`` builds a CASE per field per row, which costs seconds for a few thousand
    accounts)."""
    if not rows:
        return
    if connection.vendor == "postgresql":
        # orjson writes the aware datetimes as ISO 8601 with their offset.
        keys = ("id", *_HEALTH_FIELDS)
        doc = orjson.dumps([dict(zip(keys, r, strict=True)) for r in rows]).decode()
        with connection.cursor() as cursor:
            cursor.execute(_SQL_UPDATE_HEALTH, [doc])
        return
    adapt = connection.ops.adapt_datetimefield_value
    sets = ", ".join(f"{f} = %s" for f in _HEALTH_FIELDS)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE accounts_account SET {sets} WHERE id = %s",
            [(*r[1:5], adapt(r[5]), *r[6:], r[0]) for r in rows],
        )


def band_summary(old: str, new: str, score: float | None) -> str:
    shown = "no data" if score is None else f"{score:.1f}"
    if not old:
        return f"Health band set to {new or 'no data'} (score {shown})."
    return f"Health band changed from {old} to {new or 'no data'} (score {shown})."
