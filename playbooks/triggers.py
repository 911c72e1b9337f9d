"""Which accounts a playbook's trigger matches, and why. Reads only.

Two ways in:
- ``match_changes``: score triggers (band entered, score drop, metric threshold crossing)
  against a batch of score changes (``scoring.contracts.ScoreChange``, read from the score
  events a recompute committed, or built by a scorecard preview);
- ``match_state``: any trigger against the data as it is now (time-based triggers on beat,
  and the preview / "run now" of score triggers: "this account is red right now").

Both return ``Match`` rows; ``blocked_account_ids`` removes the accounts the playbook may
not fire for yet (open task, cooldown). Every step is one query per playbook per batch.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Exists, F, Max, OuterRef, Q, QuerySet, Window
from django.db.models.functions import RowNumber

from accounts.models import NPS_DETRACTOR_MAX, Account, Feedback, detractor_feedback
from accounts.selectors.renewals import renewing_between
from chs_site.formatting import absolute, number
from playbooks.models import (
    ACTIVE_STATUSES,
    MetricAggregation,
    Playbook,
    PlaybookRun,
    Task,
    ThresholdDirection,
    TriggerType,
)
from scoring.contracts import ScoreChange
from scoring.models import MetricValue, Score


@dataclass(frozen=True)
class Match:
    account_id: int
    reason: str
    values: dict[str, Any] = field(default_factory=dict)


BAND_RANK = {"red": 0, "yellow": 1, "green": 2}


# --- conditions and blocking ------------------------------------------------------------


def eligible_accounts(
    playbook: Playbook,
    account_ids: Iterable[int] | None = None,
    *,
    team_ids: Sequence[int] | None = None,
) -> QuerySet[Account]:
    """Accounts meeting the playbook's conditions (segment, ARR, lifecycle, team).
    ``team_ids`` stands in for the playbook's teams when it is not saved (the editor's
    preview); by default they are read from the playbook."""
    qs = Account.objects.all()
    if account_ids is not None:
        qs = qs.filter(pk__in=list(account_ids))
    if playbook.segments:
        qs = qs.filter(segment__in=playbook.segments)
    if playbook.arr_min is not None:
        qs = qs.filter(arr__gte=playbook.arr_min)
    if playbook.arr_max is not None:
        qs = qs.filter(arr__lte=playbook.arr_max)
    if playbook.lifecycle_stages:
        qs = qs.filter(lifecycle_stage__in=playbook.lifecycle_stages)
    if team_ids is None:
        team_ids = [t.pk for t in playbook.teams.all()]
    if team_ids:
        qs = qs.filter(owner__team_id__in=team_ids)
    return qs


def last_fired(playbook: Playbook, account_ids: Sequence[int]) -> dict[int, dt.datetime]:
    rows = (
        PlaybookRun.objects.filter(playbook=playbook, account_id__in=account_ids)
        .values("account_id")
        .annotate(last=Max("fired_at"))
        .order_by()
    )
    return {r["account_id"]: r["last"] for r in rows}


def blocked_account_ids(playbook: Playbook, matches: Sequence[Match], now: dt.datetime) -> set[int]:
    """Accounts the playbook must not fire for now: an open (or snoozed) task of this
    playbook exists, or the cooldown since the last firing or the last close still runs.
    The open-task rule is also a database constraint; this check only avoids the work."""
    ids = [m.account_id for m in matches]
    if not ids:
        return set()
    since = now - dt.timedelta(days=playbook.cooldown_days)
    blocked = set(
        Task.objects.filter(playbook=playbook, account_id__in=ids)
        .filter(Q(status__in=ACTIVE_STATUSES) | Q(closed_at__gte=since))
        .values_list("account_id", flat=True)
    )
    fired = last_fired(playbook, ids)
    for m in matches:
        last = fired.get(m.account_id)
        if last is None:
            continue
        if last >= since:
            blocked.add(m.account_id)
        # Feedback fires once per piece of feedback: only feedback recorded after the
        # last firing counts, whatever the cooldown.
        created = m.values.get("feedback_created_at")
        if created and dt.datetime.fromisoformat(created) <= last:
            blocked.add(m.account_id)
    return blocked


# --- score triggers on a batch of changes -----------------------------------------------


def match_changes(playbook: Playbook, changes: Sequence[ScoreChange]) -> list[Match]:
    t = playbook.trigger_type
    if t == TriggerType.BAND_ENTERED:
        return [
            Match(
                c.account_id,
                f"Band changed from {c.previous_band or 'no score'} to {c.band}",
                {
                    "band": c.band,
                    "previous_band": c.previous_band,
                    "score": c.score,
                    "previous_score": c.previous_score,
                },
            )
            for c in changes
            if c.band == playbook.band and c.previous_band != c.band
        ]
    if t == TriggerType.SCORE_DROP:
        return _match_score_drop(playbook, changes)
    if t == TriggerType.METRIC_THRESHOLD:
        return _match_metric_crossing(playbook, changes)
    return []


def _match_score_drop(playbook: Playbook, changes: Sequence[ScoreChange]) -> list[Match]:
    days = playbook.drop_days or 1
    points = playbook.drop_points or 0.0
    scored = [c for c in changes if c.score is not None]
    if not scored:
        return []
    start = min(c.computed_at for c in scored) - dt.timedelta(days=days)
    end = max(c.computed_at for c in scored)
    history: dict[int, list[tuple[dt.datetime, float]]] = defaultdict(list)
    for account_id, at, score in Score.objects.filter(
        account_id__in=[c.account_id for c in scored],
        computed_at__gte=start,
        computed_at__lt=end,
        score__isnull=False,
    ).values_list("account_id", "computed_at", "score"):
        if score is not None:
            history[account_id].append((at, score))
    matches = []
    for c in scored:
        assert c.score is not None
        window_start = c.computed_at - dt.timedelta(days=days)
        earlier = [s for at, s in history[c.account_id] if window_start <= at < c.computed_at]
        if c.previous_score is not None:
            earlier.append(c.previous_score)
        if not earlier:
            continue
        peak = max(earlier)
        drop = round(peak - c.score, 1)
        if drop >= points:
            matches.append(
                Match(
                    c.account_id,
                    f"Score dropped {number(drop)} points within {days} days ({number(peak)} → {number(c.score)})",
                    {
                        "drop": drop,
                        "peak": peak,
                        "score": c.score,
                        "band": c.band,
                        "previous_band": c.previous_band,
                        "previous_score": c.previous_score,
                        "days": days,
                    },
                )
            )
    return matches


def aggregate(values: Sequence[tuple[dt.datetime, float]], how: str) -> float | None:
    """Aggregate (observed_at, value) pairs already inside the window."""
    if not values:
        return 0.0 if how == MetricAggregation.COUNT else None
    nums = [v for _, v in values]
    if how == MetricAggregation.LATEST:
        return max(values, key=lambda p: p[0])[1]
    if how == MetricAggregation.AVG:
        return sum(nums) / len(nums)
    if how == MetricAggregation.SUM:
        return float(sum(nums))
    if how == MetricAggregation.COUNT:
        return float(len(nums))
    if how == MetricAggregation.MIN:
        return min(nums)
    return max(nums)


def meets_threshold(playbook: Playbook, value: float | None) -> bool:
    if value is None or playbook.threshold is None:
        return False
    if playbook.threshold_direction == ThresholdDirection.BELOW:
        return value < playbook.threshold
    return value > playbook.threshold


def _window(
    series: Sequence[tuple[dt.datetime, float]], end: dt.datetime, days: int
) -> list[tuple[dt.datetime, float]]:
    start = end - dt.timedelta(days=days)
    return [(at, v) for at, v in series if start < at <= end]


def _previous_score_times(changes: Sequence[ScoreChange]) -> dict[int, dt.datetime]:
    """For each change, when the account was scored before it (two newest rows each)."""
    by_account = {c.account_id: c.computed_at for c in changes}
    ranked = (
        Score.objects.filter(
            account_id__in=list(by_account), computed_at__lte=max(by_account.values())
        )
        .annotate(
            rank=Window(
                RowNumber(), partition_by=[F("account_id")], order_by=F("computed_at").desc()
            )
        )
        .filter(rank__lte=2)
        .values_list("account_id", "computed_at")
    )
    previous: dict[int, dt.datetime] = {}
    for account_id, at in ranked:
        if at < by_account[account_id] and (
            account_id not in previous or at > previous[account_id]
        ):
            previous[account_id] = at
    return previous


def _match_metric_crossing(playbook: Playbook, changes: Sequence[ScoreChange]) -> list[Match]:
    """The aggregate meets the threshold at this change and did not at the account's
    previous score (or the account had no previous score): it *crossed*."""
    if not changes or playbook.metric_id is None:
        return []
    days = playbook.metric_window_days
    previous = _previous_score_times(changes)
    start = min([*previous.values(), *(c.computed_at for c in changes)]) - dt.timedelta(days=days)
    end = max(c.computed_at for c in changes)
    series: dict[int, list[tuple[dt.datetime, float]]] = defaultdict(list)
    for account_id, at, value in MetricValue.objects.filter(
        metric_id=playbook.metric_id,
        account_id__in=[c.account_id for c in changes],
        observed_at__gt=start,
        observed_at__lte=end,
    ).values_list("account_id", "observed_at", "value"):
        series[account_id].append((at, value))
    matches = []
    for c in changes:
        now_value = aggregate(
            _window(series[c.account_id], c.computed_at, days), playbook.metric_aggregation
        )
        if not meets_threshold(playbook, now_value):
            continue
        before_at = previous.get(c.account_id)
        before = (
            aggregate(_window(series[c.account_id], before_at, days), playbook.metric_aggregation)
            if before_at
            else None
        )
        if meets_threshold(playbook, before):
            continue
        matches.append(_metric_match(playbook, c.account_id, now_value, before, c.band, c.score))
    return matches


def _metric_match(
    playbook: Playbook,
    account_id: int,
    value: float | None,
    before: float | None,
    band: str,
    score: float | None,
) -> Match:
    key = playbook.metric.key if playbook.metric else str(playbook.metric_id)
    word = "below" if playbook.threshold_direction == ThresholdDirection.BELOW else "above"
    return Match(
        account_id,
        f"{playbook.get_metric_aggregation_display()} of {key} over "
        f"{playbook.metric_window_days} days is {number(value)}, {word} {number(playbook.threshold)}",
        {
            "metric": key,
            "metric_value": value,
            "previous_metric_value": before,
            "threshold": playbook.threshold,
            "band": band,
            "score": score,
        },
    )


# --- any trigger against the data as it is now -------------------------------------------


def match_state(
    playbook: Playbook,
    *,
    now: dt.datetime,
    account_ids: Iterable[int] | None = None,
    team_ids: Sequence[int] | None = None,
) -> list[Match]:
    accounts = eligible_accounts(playbook, account_ids, team_ids=team_ids)
    t = playbook.trigger_type
    today = now.date()
    if t == TriggerType.BAND_ENTERED:
        rows = accounts.filter(health_band=playbook.band).values_list("pk", "health_score")
        return [
            Match(pk, f"Band is {playbook.band}", {"band": playbook.band, "score": score})
            for pk, score in rows
        ]
    if t == TriggerType.SCORE_DROP:
        days = playbook.drop_days or 1
        peaks = (
            Score.objects.filter(
                account__in=accounts.filter(computed_score__isnull=False),
                computed_at__gte=now - dt.timedelta(days=days),
                score__isnull=False,
            )
            .values("account_id")
            .annotate(peak=Max("score"))
            .order_by()
        )
        peak_by = {r["account_id"]: r["peak"] for r in peaks}
        current = dict(accounts.filter(pk__in=list(peak_by)).values_list("pk", "computed_score"))
        bands = dict(accounts.filter(pk__in=list(peak_by)).values_list("pk", "health_band"))
        out = []
        for pk, peak in peak_by.items():
            score = current.get(pk)
            if score is None:
                continue
            drop = round(peak - score, 1)
            if drop >= (playbook.drop_points or 0):
                out.append(
                    Match(
                        pk,
                        f"Score is {number(drop)} points below its {days}-day high ({number(peak)} → {number(score)})",
                        {"drop": drop, "peak": peak, "score": score, "band": bands.get(pk, "")},
                    )
                )
        return out
    if t == TriggerType.METRIC_THRESHOLD:
        return _match_metric_state(playbook, accounts, now)
    if t == TriggerType.RENEWAL_WINDOW:
        renewals = (
            renewing_between(
                accounts, first=today, last=today + dt.timedelta(days=playbook.days or 0)
            )
            .filter(health_band__in=playbook.bands)
            .values_list("pk", "renewal_date", "health_band", "health_score")
        )
        return [
            Match(
                pk,
                f"Renews in {(renewal - today).days} days ({absolute(renewal)}) while {band}",
                {
                    "renewal_date": renewal.isoformat(),
                    "days_to_renewal": (renewal - today).days,
                    "band": band,
                    "score": score,
                },
            )
            for pk, renewal, band, score in renewals
            if renewal is not None
        ]
    if t == TriggerType.NEGATIVE_FEEDBACK:
        since = now - dt.timedelta(days=playbook.feedback_lookback_days)
        feedback = (
            Feedback.objects.filter(account__in=accounts, occurred_at__gte=since)
            .filter(detractor_feedback())
            .order_by("account_id", "-created_at", "-id")
            .values_list(
                "account_id", "id", "kind", "survey", "score", "sentiment", "text", "created_at"
            )
        )
        newest: dict[int, Match] = {}
        for account_id, fid, kind, survey, score, sentiment, text, created in feedback:
            if account_id in newest:
                continue
            nps = Feedback.Kind.NPS in (kind, survey) and score is not None
            what = f"NPS {score}" if nps else f"negative {kind}"
            newest[account_id] = Match(
                account_id,
                f"Detractor feedback: {what}",
                {
                    "feedback_id": fid,
                    "feedback": f"{what}: {text[:120]}" if text else what,
                    "nps": score if nps else None,
                    "sentiment": sentiment,
                    "feedback_created_at": created.isoformat(),
                },
            )
        # NPS answers that arrived as metric values (``nps``, e.g. from a survey tool's
        # import) count too; an account with detractor feedback above is already covered.
        for account_id, value, observed in (
            MetricValue.objects.filter(
                account__in=accounts,
                metric__key="nps",
                value__lte=NPS_DETRACTOR_MAX,
                observed_at__gte=since,
            )
            .exclude(account_id__in=list(newest))
            .order_by("account_id", "-observed_at")
            .values_list("account_id", "value", "observed_at")
        ):
            if account_id in newest:
                continue
            newest[account_id] = Match(
                account_id,
                f"Detractor NPS answer: {number(value)}",
                {
                    "feedback": f"NPS {number(value)}",
                    "nps": value,
                    "feedback_created_at": observed.isoformat(),
                },
            )
        return list(newest.values())
    if t == TriggerType.NO_ACTIVITY:
        cutoff = now - dt.timedelta(days=playbook.days or 0)
        recent = MetricValue.objects.filter(account=OuterRef("pk"), observed_at__gte=cutoff)
        inactive_rows: Any = (
            accounts.filter(created_at__lt=cutoff)
            .exclude(Exists(recent))
            .annotate(last_value=Max("metric_values__observed_at"))
            .values_list("pk", "last_value")
        )
        out = []
        for pk, last in inactive_rows:
            inactive = (now - last).days if last else None
            out.append(
                Match(
                    pk,
                    f"No metric values for {inactive} days"
                    if inactive is not None
                    else "No metric values ever",
                    {
                        "inactive_days": inactive,
                        "last_value_at": last.isoformat() if last else None,
                    },
                )
            )
        return out
    return []


def _match_metric_state(
    playbook: Playbook, accounts: QuerySet[Account], now: dt.datetime
) -> list[Match]:
    days = playbook.metric_window_days
    series: dict[int, list[tuple[dt.datetime, float]]] = defaultdict(list)
    for account_id, at, value in MetricValue.objects.filter(
        metric_id=playbook.metric_id,
        account__in=accounts,
        observed_at__gt=now - dt.timedelta(days=days),
        observed_at__lte=now,
    ).values_list("account_id", "observed_at", "value"):
        series[account_id].append((at, value))
    ids: Iterable[int] = series.keys()
    if playbook.metric_aggregation == MetricAggregation.COUNT:
        ids = accounts.values_list("pk", flat=True)  # count 0 is a value too
    bands = dict(accounts.filter(pk__in=list(ids)).values_list("pk", "health_band"))
    out = []
    for pk in ids:
        agg = aggregate(series.get(pk, []), playbook.metric_aggregation)
        if meets_threshold(playbook, agg):
            out.append(_metric_match(playbook, pk, agg, None, bands.get(pk, ""), None))
    return out
