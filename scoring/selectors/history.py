"""Stored scores: the newest per account, the history, and what it explains ("why it
moved", "path to green"), all from breakdowns the recompute stored."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import orjson
from django.db import connection
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from accounts.models import Account
from chs_site.sql import id_array
from scoring import engine
from scoring.engine import Mover, PathToGreen, ScorecardSpec
from scoring.models import Score
from scoring.selectors.scorecards import scorecard_spec


def latest_scores(*, account_ids: Sequence[int], at: datetime | None = None) -> dict[int, Score]:
    """The newest Score row per account (at or before ``at`` when given), in one query."""
    if not account_ids:
        return {}
    qs = Score.objects.filter(account_id__in=account_ids)
    if at is not None:
        qs = qs.filter(computed_at__lte=at)
    if connection.vendor == "postgresql":
        rows = qs.order_by("account_id", "-computed_at").distinct("account_id")
        return {s.account_id: s for s in rows}
    # SQLite: newest per account by a correlated subquery on the (account, -computed_at) index.

    newest = Score.objects.filter(account_id=OuterRef("account_id"))
    if at is not None:
        newest = newest.filter(computed_at__lte=at)
    rows = qs.filter(
        computed_at=Subquery(newest.order_by("-computed_at").values("computed_at")[:1])
    )
    return {s.account_id: s for s in rows}


class ScoreRow(NamedTuple):
    scorecard_id: int
    score: float | None
    band: str
    breakdown: list[dict[str, Any]]


def latest_score_rows(
    *, account_ids: Sequence[int], at: datetime | None = None
) -> dict[int, ScoreRow]:
    """``latest_scores`` without model instances (the recompute reads these per batch)."""
    if not account_ids:
        return {}
    if connection.vendor != "postgresql":
        return {
            a: ScoreRow(s.scorecard_id, s.score, s.band, s.breakdown)
            for a, s in latest_scores(account_ids=account_ids, at=at).items()
        }
    sql = (
        "SELECT DISTINCT ON (account_id) account_id, scorecard_id, score, band, breakdown"
        " FROM scoring_score WHERE account_id = ANY(%s::bigint[])"
    )
    params: list[Any] = [id_array(account_ids)]
    if at is not None:
        sql += " AND computed_at <= %s"
        params.append(at)
    sql += " ORDER BY account_id, computed_at DESC"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return {
        a: ScoreRow(c, s, b, orjson.loads(d) if isinstance(d, str | bytes) else d)
        for a, c, s, b, d in rows
    }


def score_movers(*, account: Account, days: int, limit: int = 3) -> list[Mover]:
    """What moved the score over the last ``days`` days: the newest Score row against the
    newest row at or before now − days (none when history is shorter; the account's
    ``top_mover`` follows the same rule for 30 days)."""
    newest = Score.objects.filter(account=account).order_by("-computed_at").first()
    if newest is None:
        return []
    cutoff = timezone.now() - timedelta(days=days)
    before = (
        Score.objects.filter(account=account, computed_at__lte=cutoff)
        .order_by("-computed_at")
        .first()
    )
    if before is None or before.pk == newest.pk:
        return []
    return engine.movers(before.breakdown, newest.breakdown, limit=limit)


def path_to_green(*, account: Account) -> PathToGreen | None:
    """The smallest change of one or two measures that lifts the account into green, from
    its newest score; None when already green or without data."""
    newest = (
        Score.objects.filter(account=account)
        .select_related("scorecard")
        .order_by("-computed_at")
        .first()
    )
    if newest is None or newest.score is None:
        return None
    spec = scorecard_spec(newest.scorecard)
    result = result_from_breakdown(spec, newest)
    if result is None:
        return None
    return engine.path_to_green(spec, result)


def result_from_breakdown(spec: ScorecardSpec, score: Score) -> engine.ScoreResult | None:
    """Rebuild the engine result of a stored score (None if the breakdown no longer matches
    the scorecard's measures)."""
    rows = list(score.breakdown)
    if len(rows) != len(spec.measures):
        return None
    measures = []
    for m, row in zip(spec.measures, rows, strict=True):
        if row.get("metric") != m.metric:
            return None
        measures.append(
            engine.MeasureResult(
                metric=m.metric,
                name=str(row.get("name") or m.label),
                aggregation=m.aggregation,
                window_days=m.window_days,
                value=row.get("value"),
                points=row.get("points"),
                weight=float(row.get("weight") or m.weight),
                contribution=float(row.get("contribution") or 0.0),
                stale=bool(row.get("stale")),
            )
        )
    return engine.ScoreResult(score=score.score, band=score.band, measures=tuple(measures))
