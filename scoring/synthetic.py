"""Synthetic data with a known hidden churn rule, for the validation tests and benchmarks.

Each account has a latent level per metric (0..100) and daily observations around it.
Churn is drawn from a logistic function of the *signal* metrics only; the *noise* metrics
carry nothing. A scorecard over the signal metrics should backtest well, one over the
noise metrics near 0.5, and suggested weights should find the signal metrics.
Deterministic (seeded); bulk-loaded (COPY on PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass

from django.db import transaction

from accounts.models import Account, owner_sort_name
from scoring.models import Measure, MetricDefinition, Outcome, Scorecard
from scoring.services.values import load_metric_values

SIGNAL = ("sig_usage", "sig_adoption")
NOISE = ("noise_a", "noise_b")


@dataclass(frozen=True)
class Synthetic:
    account_ids: list[int]
    metrics: dict[str, MetricDefinition]
    outcomes: int
    churned: int


def ensure_metrics() -> dict[str, MetricDefinition]:
    out = {}
    for key in SIGNAL + NOISE:
        out[key], _ = MetricDefinition.objects.get_or_create(key=key, defaults={"name": key})
    return out


def make_scorecard(
    *,
    metrics: dict[str, MetricDefinition],
    keys: tuple[str, ...],
    weights: tuple[float, ...] | None = None,
    name: str = "Synthetic",
    segment: str = "",
    status: str = Scorecard.Status.ACTIVE,
    version: int | None = None,
) -> Scorecard:
    last = Scorecard.objects.filter(segment=segment).order_by("-version").first()
    card = Scorecard.objects.create(
        name=name,
        segment=segment,
        status=status,
        version=version or ((last.version + 1) if last else 1),
    )
    Measure.objects.bulk_create(
        Measure(
            scorecard=card,
            metric=metrics[k],
            weight=(weights[i] if weights else 1.0),
            aggregation="avg",
            window_days=14,
            bad=0,
            good=100,
            position=i,
        )
        for i, k in enumerate(keys)
    )
    return card


def generate(
    *,
    accounts: int,
    days: int = 180,
    every_days: int = 1,
    outcome_share: float = 1.0,
    today: dt.date,
    seed: int = 7,
    segment: str = "Synthetic",
    owner: object = None,
) -> Synthetic:
    """Create ``accounts`` accounts with ``days`` days of history (a value every
    ``every_days`` days per metric) and an outcome for ``outcome_share`` of them in the last
    60 days (so the 90-day cut-off lies inside the history)."""
    rng = random.Random(seed)
    metrics = ensure_metrics()
    start = Account.objects.count()
    rows = [
        Account(
            external_id=f"SYN-{seed}-{start + i:06d}",
            name=f"Synthetic {start + i}",
            segment=segment,
            owner=owner,  # type: ignore[misc]
            owner_sort_name=owner_sort_name(owner),  # type: ignore[arg-type]
        )
        for i in range(accounts)
    ]
    with transaction.atomic():
        Account.objects.bulk_create(rows, batch_size=2000)
    ids = list(
        Account.objects.filter(external_id__in=[a.external_id for a in rows])
        .order_by("id")
        .values_list("id", flat=True)
    )
    first_day = dt.datetime.combine(today - dt.timedelta(days=days - 1), dt.time(), tzinfo=dt.UTC)
    values: list[tuple[int, int, dt.datetime, float]] = []
    outcomes: list[Outcome] = []
    churned = 0
    for account_id in ids:
        level = {k: rng.uniform(0, 100) for k in SIGNAL + NOISE}
        for d in range(0, days, every_days):
            at = first_day + dt.timedelta(days=d)
            for key, base in level.items():
                values.append((account_id, metrics[key].pk, at, round(base + rng.gauss(0, 4), 2)))
        if rng.random() >= outcome_share:
            continue
        # The hidden rule: only the signal metrics matter.
        health = sum(level[k] for k in SIGNAL) / len(SIGNAL) / 100
        p_churn = 1 / (1 + math.exp(12 * (health - 0.5)))
        is_churn = rng.random() < p_churn
        churned += int(is_churn)
        occurred = today - dt.timedelta(days=rng.randint(0, 59))
        outcomes.append(
            Outcome(
                account_id=account_id,
                kind=Outcome.Kind.CHURNED if is_churn else Outcome.Kind.RENEWED,
                occurred_at=occurred,
            )
        )
    with transaction.atomic():
        load_metric_values(values)
        Outcome.objects.bulk_create(outcomes, batch_size=2000)
    return Synthetic(ids, metrics, len(outcomes), churned)
