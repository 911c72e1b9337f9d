"""Demo outcomes: renewals, churns, expansions and contractions for the demo accounts, so
the validation page, suggested weights and churn risk have something real to work on.

Correlated with each account's history: the chance of churn follows the account's latent
health around the moment 90 days before the outcome (the same hidden trajectory
``scoring.demo`` generated its metric values from), so accounts that were long in red churn
far more often than green ones, yet not always (the backtest is meaningful, not perfect).

Deterministic (one seeded generator per account) and idempotent (skipped when the demo
accounts already have outcomes). Then the churn model is fitted once.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from decimal import Decimal

from django.db import transaction

from accounts.demo import DEMO_SEED, DemoAccount, plan_accounts
from accounts.models import Account, Activity, LifecycleStage
from scoring import demo, validation
from scoring.models import Outcome

OUTCOME_SHARE = 0.8  # of the demo accounts get an outcome in the last ~50 days
FIRST_OUTCOME_DAY = 130  # history day index: the 90-day cut-off lands after day 40


def plan_outcome(
    *, account_index: int, account: DemoAccount, today: dt.date
) -> tuple[str, dt.date, Decimal] | None:
    """(kind, date, ARR change) of one demo account's outcome, or None."""
    traj = demo.story(
        account_index=account_index,
        onboarding=account.lifecycle_stage == LifecycleStage.ONBOARDING,
        today=today,
    )
    arr = account.arr
    rng = random.Random(DEMO_SEED * 13 + account_index)
    if rng.random() >= OUTCOME_SHARE:
        return None
    day = rng.randint(FIRST_OUTCOME_DAY, demo.HISTORY_DAYS - 1)
    occurred = today - dt.timedelta(days=demo.HISTORY_DAYS - 1 - day)
    # Health over the 30 days up to the 90-day cut-off: what a good score should have seen.
    cut = day - validation.LEAD_DAYS_DEFAULT
    seen = traj.level[max(0, cut - 30) : cut + 1]
    health = sum(seen) / len(seen)
    # About one outcome in seven is a churn, nearly all of them accounts long unhealthy.
    p_churn = 1.0 / (1.0 + math.exp(12 * (health - 0.38)))
    if rng.random() < p_churn:
        return Outcome.Kind.CHURNED, occurred, -arr
    roll = rng.random()
    if health > 0.7 and roll < 0.35:
        return (
            Outcome.Kind.EXPANDED,
            occurred,
            (arr * Decimal(rng.uniform(0.1, 0.4))).quantize(Decimal("1")),
        )
    if health < 0.5 and roll < 0.4:
        return (
            Outcome.Kind.CONTRACTED,
            occurred,
            -(arr * Decimal(rng.uniform(0.05, 0.25))).quantize(Decimal("1")),
        )
    return Outcome.Kind.RENEWED, occurred, Decimal(0)


def seed(*, today: dt.date) -> dict[str, int]:
    created = {"outcomes": 0, "churn_models": 0}
    plan = plan_accounts(today)
    accounts = {
        a.external_id: a
        for a in Account.objects.filter(external_id__in=[p.external_id for p in plan])
    }
    if not accounts or Outcome.objects.filter(account__in=accounts.values()).exists():
        return created
    outcomes: list[Outcome] = []
    activities: list[Activity] = []
    for index, demo_account in enumerate(plan):
        account = accounts.get(demo_account.external_id)
        if account is None:
            continue
        planned = plan_outcome(account_index=index, account=demo_account, today=today)
        if planned is None:
            continue
        kind, occurred, change = planned
        outcomes.append(
            Outcome(account=account, kind=kind, occurred_at=occurred, arr_change=change)
        )
        sign = "+" if change > 0 else ""
        activities.append(
            Activity(
                account=account,
                kind=Activity.Kind.OUTCOME,
                occurred_at=dt.datetime.combine(occurred, dt.time(9), tzinfo=dt.UTC),
                summary=f"{Outcome.Kind(kind).label} on {occurred:%Y-%m-%d} (ARR {sign}{change:,.2f})",
                details={
                    "kind": kind,
                    "occurred_at": occurred.isoformat(),
                    "arr_change": str(change),
                },
            )
        )
    churned = [o.account_id for o in outcomes if o.kind == Outcome.Kind.CHURNED]
    with transaction.atomic():
        Outcome.objects.bulk_create(outcomes, ignore_conflicts=True)
        Activity.objects.bulk_create(activities)
        # As recording a churn does (scoring.services.outcomes.record_outcome).
        Account.objects.filter(pk__in=churned).update(lifecycle_stage=LifecycleStage.CHURNED)
    created["outcomes"] = len(outcomes)
    if validation.current_churn_model() is None:
        try:
            validation.fit_churn_model()
            created["churn_models"] = 1
        except validation.TooFewOutcomes:
            pass
    return created
