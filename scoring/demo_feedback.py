"""Demo feedback: the survey answers behind the demo's NPS and CSAT values, and the calls
and meetings that tell each account's story (``scoring.demo.story``): the slide a CSM
noticed, the recovery plan agreed at the trough, the fix that turned an account around, the
sponsor who stopped joining before a churn, the onboarding kick-off, the routine QBR.

Answers are the ``nps`` and ``csat`` values of the last ``ANSWER_DAYS`` (the same numbers
the scores were computed from), so the timeline and the breakdown agree. Written in bulk as
history (no playbook reacts to the past). Deterministic; skipped once the demo accounts have
feedback, so a second run changes nothing."""

from __future__ import annotations

import datetime as dt
import random

from django.db import transaction
from django.utils import timezone

from accounts.demo import DEMO_SEED, plan_accounts
from accounts.models import Account, Activity, Feedback, LifecycleStage
from accounts.services.feedback import timeline_summary
from scoring import demo
from scoring.models import MetricValue

ANSWER_DAYS = 120

_COMMENTS = {
    "detractor": (
        "Support takes days to answer.",
        "Too many clicks for simple reports.",
        "The last release broke our exports.",
        "",
    ),
    "passive": ("Does the job.", "Good, but the mobile app lags behind.", "", ""),
    "promoter": (
        "The team lives in it every day.",
        "Great onboarding and support.",
        "Saves us hours every week.",
        "",
    ),
}
_SLIDE_CAUSES = (
    "their champion left in a reorganisation",
    "budget cuts froze the rollout",
    "a team started a pilot with a competitor",
    "the new VP questions the value",
)

# kind → ((days after the story's turn, feedback kind, sentiment, text), …)
_STORY_NOTES: dict[str, tuple[tuple[int, str, str, str], ...]] = {
    "declining": (
        (
            10,
            "call",
            "negative",
            "Usage is down since {cause}. Asked for a meeting with the sponsor.",
        ),
    ),
    "recovering": (
        (-5, "call", "negative", "Usage fell sharply; {cause}."),
        (
            0,
            "meeting",
            "neutral",
            "Agreed a recovery plan: weekly check-ins, retraining the admins.",
        ),
        (35, "call", "positive", "Usage is coming back; the admins are confident again."),
    ),
    "improving": (
        (0, "meeting", "positive", "Integration fixed; the team is back in the product daily."),
    ),
    "churn_bound": (
        (25, "call", "negative", "They are evaluating alternatives; the sponsor skipped the call."),
    ),
    "onboarding": (
        (0, "meeting", "positive", "Kick-off held; rollout plan agreed with the admins."),
    ),
}


def seed(*, today: dt.date) -> dict[str, int]:
    created = {"answers": 0, "notes": 0}
    plan = plan_accounts(today)
    accounts = {
        a.external_id: a
        for a in Account.objects.filter(
            external_id__in=[p.external_id for p in plan]
        ).select_related("owner")
    }
    if not accounts or Feedback.objects.filter(account__in=accounts.values()).exists():
        return created
    now = timezone.now()
    feedback: list[Feedback] = []
    for index, demo_account in enumerate(plan):
        account = accounts.get(demo_account.external_id)
        if account is None:
            continue
        rng = random.Random(DEMO_SEED * 17 + index)
        traj = demo.story(
            account_index=index,
            onboarding=demo_account.lifecycle_stage == LifecycleStage.ONBOARDING,
            today=today,
        )
        feedback.extend(_story_notes(account, traj, rng, today=today, now=now))
    feedback.extend(_answers(list(accounts.values()), today=today, now=now))
    with transaction.atomic():
        Feedback.objects.bulk_create(feedback, batch_size=2000)
        Activity.objects.bulk_create(
            [
                Activity(
                    account_id=f.account_id,
                    kind=Activity.Kind.FEEDBACK,
                    actor_id=f.author_id,
                    occurred_at=f.occurred_at,
                    summary=timeline_summary(f, f.author),
                    details={"kind": f.kind, "score": f.score, "sentiment": f.sentiment},
                    feedback=f,
                )
                for f in feedback
            ],
            batch_size=2000,
        )
    created["answers"] = sum(1 for f in feedback if f.score is not None)
    created["notes"] = len(feedback) - created["answers"]
    return created


def _story_notes(
    account: Account, traj: demo.Trajectory, rng: random.Random, *, today: dt.date, now: dt.datetime
) -> list[Feedback]:
    start = today - dt.timedelta(days=demo.HISTORY_DAYS - 1)
    notes = list(_STORY_NOTES.get(traj.kind, ()))
    if traj.kind == "stable" and rng.random() < 0.35:
        # A routine quarterly business review for some of the quiet accounts.
        notes.append((0, "meeting", "positive", "Quarterly business review: roadmap shared."))
    turn = traj.turn_day if traj.turn_day is not None else rng.randint(0, demo.HISTORY_DAYS - 1)
    cause = rng.choice(_SLIDE_CAUSES)
    out = []
    for after, kind, sentiment, text in notes:
        at = dt.datetime.combine(
            start + dt.timedelta(days=turn + after), dt.time(15, rng.randint(0, 59)), tzinfo=dt.UTC
        )
        if not dt.datetime.combine(start, dt.time(), tzinfo=dt.UTC) <= at <= now:
            continue  # the story's moment fell before the window or is still to come
        out.append(
            Feedback(
                account_id=account.pk,
                author=account.owner,
                kind=kind,
                sentiment=sentiment,
                text=text.format(cause=cause),
                occurred_at=at,
            )
        )
    return out


def _answers(accounts: list[Account], *, today: dt.date, now: dt.datetime) -> list[Feedback]:
    """One survey answer per ``nps``/``csat`` value of the last ``ANSWER_DAYS``."""
    since = dt.datetime.combine(today - dt.timedelta(days=ANSWER_DAYS), dt.time(), tzinfo=dt.UTC)
    values = MetricValue.objects.filter(
        account__in=accounts, metric__key__in=("nps", "csat"), observed_at__gte=since
    ).values_list("account_id", "metric__key", "observed_at", "value")
    out = []
    for account_id, key, observed_at, value in values.order_by("account_id", "observed_at"):
        score = int(value)
        if key == "nps":
            group = "detractor" if score <= 6 else "passive" if score <= 8 else "promoter"
        else:
            group = "detractor" if score <= 2 else "passive" if score <= 3 else "promoter"
        comments = _COMMENTS[group]
        out.append(
            Feedback(
                account_id=account_id,
                kind=key,
                score=score,
                text=comments[(account_id + score) % len(comments)],
                occurred_at=min(observed_at + dt.timedelta(hours=10), now),
            )
        )
    return out
