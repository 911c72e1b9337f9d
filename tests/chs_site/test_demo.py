"""The demo company (``manage.py seed_demo``): people, books, scores, outcomes and playbooks;
believable, deterministic, and idempotent (a second seed changes nothing).

Seeding the whole demo writes over 400 000 metric values, so these tests share one seeded
database: ``seeded_demo`` runs the command once for the module and commits it, each test
runs in its own transaction on top (rolled back after it, so a test that re-seeds or deletes
leaves the next one the same demo), and the module's teardown flushes the database so the
tests that run later find it empty, as they would after a transactional test. A test that
changes the demo before seeding a part of it (tests/playbooks/test_demo.py) seeds its own."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Count
from django.utils import timezone

from accounts.models import Account, Activity, Contact, Feedback, Role, Team, User
from chs_site.celery import app as celery_app
from playbooks.models import SuccessPlan
from scoring import demo, demo_outcomes, validation
from scoring.models import ChurnModel, MetricValue, Outcome, Score, Scorecard

pytestmark = pytest.mark.django_db

Created = dict[str, dict[str, int]]


@pytest.fixture(scope="module")
def seeded_demo(
    django_db_setup: None, django_db_blocker: pytest.FixtureRequest
) -> Iterator[Created]:
    """``seed_demo`` run once (committed) for this module; what each step created, by step
    name, as the command prints it. Its tasks run in-process, as in every non-worker test, so
    nothing reaches a broker or a worker still running from an earlier test."""
    out = StringIO()
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    try:
        with django_db_blocker.unblock():  # type: ignore[attr-defined]
            call_command("seed_demo", "--quiet-logins", stdout=out)
    finally:
        celery_app.conf.task_always_eager = eager
    created: Created = {}
    for line in out.getvalue().splitlines():
        step, _, counts = line.partition(": ")
        created[step] = json.loads(counts)
    try:
        yield created
    finally:
        with django_db_blocker.unblock():  # type: ignore[attr-defined]
            call_command("flush", interactive=False, verbosity=0)
            assert not Account.objects.exists() and not MetricValue.objects.exists()


def _accounts() -> list[tuple[object, ...]]:
    return list(
        Account.objects.order_by("external_id").values_list(
            "external_id", "name", "owner__username", "arr"
        )
    )


def test_seed_demo_builds_the_company_and_is_idempotent(seeded_demo: Created) -> None:
    users = User.objects.count()
    accounts = _accounts()
    contacts = Contact.objects.count()

    assert User.objects.filter(role=Role.ADMIN).count() == 1
    assert User.objects.filter(role=Role.MANAGER).count() == 3
    assert User.objects.filter(role=Role.CSM).count() == 12
    assert Team.objects.count() == 3
    assert all(t.members.count() == 4 and t.manager for t in Team.objects.all())
    assert len(accounts) == 600
    assert set(Account.objects.values_list("segment", flat=True)) == {
        "SMB",
        "Mid-Market",
        "Enterprise",
    }
    assert contacts >= 600
    assert User.objects.get(username="csm1").check_password("chs-demo")
    assert seeded_demo["connectors.demo"] == {"connectors": 4}

    call_command("seed_demo", "--quiet-logins", stdout=StringIO())
    assert User.objects.count() == users
    assert Contact.objects.count() == contacts
    assert _accounts() == accounts


def test_demo_books_are_spread_over_the_csms(seeded_demo: Created) -> None:
    sizes = [u.owned_accounts.count() for u in User.objects.filter(role=Role.CSM)]
    assert min(sizes) == max(sizes) == 50


def _snapshot() -> tuple[object, ...]:
    return (
        MetricValue.objects.count(),
        Score.objects.count(),
        Scorecard.objects.count(),
        list(
            Account.objects.order_by("pk").values_list("computed_score", "health_band", "top_mover")
        ),
    )


def test_demo_is_believable_deterministic_and_idempotent(seeded_demo: Created) -> None:
    today = timezone.localdate()
    first = seeded_demo["scoring.demo"]
    assert first["metric_definitions"] >= 8 and first["scorecards"] == 2
    assert first["metric_values"] > 400_000  # 180 days of daily values for 600 accounts
    before = _snapshot()
    again = demo.seed(today=today)
    assert again == {"metric_definitions": 0, "scorecards": 0, "metric_values": 0, "scores": 0}
    assert _snapshot() == before

    bands = dict(Account.objects.values_list("health_band").annotate(n=Count("id")))
    assert set(bands) == {"red", "yellow", "green"}
    assert bands["green"] > bands["red"]  # most accounts are healthy
    assert Account.objects.filter(score_change_30d__lt=-10).count() > 20  # some decline
    assert Account.objects.filter(score_change_30d__gt=10).count() > 10  # some recover
    assert Account.objects.exclude(top_mover="").count() > 300
    enterprise = Account.objects.filter(segment="Enterprise").first()
    assert enterprise is not None
    assert Score.objects.filter(account=enterprise).first().scorecard.segment == "Enterprise"  # type: ignore[union-attr]
    # Weekly history over ~180 days.
    assert Score.objects.filter(account=enterprise).count() >= 20
    # Some churn-bound accounts stopped reporting usage: stale in their breakdown.
    latest = Score.objects.order_by("account_id", "-computed_at")
    assert any(
        row["stale"]
        for s in latest[:2000]
        for row in s.breakdown
        if row["metric"] == "active_users"
    )


def _book_over_time(every_days: int = 14) -> list[tuple[float, int]]:
    """(average score, red accounts) of the demo book at moments ``every_days`` apart over
    the history, each account at its latest score up to the moment."""
    history: dict[int, list[tuple[object, float | None, str]]] = {}
    for account_id, at, score, band in Score.objects.order_by("computed_at").values_list(
        "account_id", "computed_at", "score", "band"
    ):
        history.setdefault(account_id, []).append((at, score, band))
    now = timezone.now()
    out = []
    for back in range(demo.HISTORY_DAYS - every_days, -1, -every_days):
        moment = now - dt.timedelta(days=back)
        latest = [
            next((row for row in reversed(rows) if row[0] <= moment), None)  # type: ignore[operator]
            for rows in history.values()
        ]
        scored = [row for row in latest if row is not None and row[1] is not None]
        out.append(
            (
                sum(row[1] for row in scored) / len(scored),  # type: ignore[misc]
                sum(1 for row in scored if row[2] == "red"),
            )
        )
    return out


def test_the_demo_book_stays_level_with_noise_and_seasons(seeded_demo: Created) -> None:
    """A real book is mostly stable: declines are matched by recoveries, so the team's
    average and its red accounts move a little (a summer lull), never steadily one way."""
    book = _book_over_time()
    averages = [average for average, _ in book]
    reds = [red for _, red in book]
    assert max(averages) - min(averages) < 6, averages
    assert max(reds) / min(reds) < 1.5, reds
    # Month over month (two fortnights) red accounts change by less than a third.
    assert all(0.75 < b / a < 1.33 for a, b in zip(reds, reds[2:], strict=False)), reds


def test_demo_feedback_and_plans_tell_each_accounts_story(seeded_demo: Created) -> None:
    created = seeded_demo["scoring.demo_feedback"]
    assert created["answers"] > 3000 and created["notes"] > 200
    # Every survey answer is a value the score was computed from, and on the timeline.
    answer = Feedback.objects.filter(kind="nps").select_related("account").first()
    assert answer is not None and answer.score is not None
    assert MetricValue.objects.filter(
        account=answer.account, metric__key="nps", value=answer.score
    ).exists()
    assert Activity.objects.filter(feedback=answer, kind=Activity.Kind.FEEDBACK).exists()
    # The recoveries: a "Back to green" plan started at the trough, agreed in a meeting,
    # and the account is better now than when the plan started.
    plans = SuccessPlan.objects.filter(template__name="Back to green").select_related("account")
    assert plans.count() > 10
    better = 0
    for plan in plans:
        assert Feedback.objects.filter(
            account=plan.account, kind="meeting", text__startswith="Agreed a recovery plan"
        ).exists()
        first_due = plan.milestones.order_by("due_date").values_list("due_date", flat=True)[0]
        started = dt.datetime.combine(first_due, dt.time(), tzinfo=dt.UTC)
        then = (
            Score.objects.filter(account=plan.account, computed_at__lte=started)
            .order_by("-computed_at")
            .first()
        )
        better += then is not None and (plan.account.computed_score or 0) > (then.score or 0)
    assert better > plans.count() * 0.6
    # Declines were noticed: a CSM's negative call on most accounts that slid.
    assert Feedback.objects.filter(kind="call", sentiment="negative").count() > 30
    # About one outcome in seven is a churn, not a third of the book.
    churned = Outcome.objects.filter(kind=Outcome.Kind.CHURNED).count()
    assert 0.08 < churned / Outcome.objects.count() < 0.25


@pytest.mark.postgres
def test_demo_outcomes_make_the_backtest_meaningful_and_seed_once(seeded_demo: Created) -> None:
    today = timezone.localdate()
    created = seeded_demo["scoring.demo_outcomes"]
    assert created["outcomes"] == Outcome.objects.count() > 0
    assert created["churn_models"] == 1
    default = Scorecard.objects.get(segment="", status=Scorecard.Status.ACTIVE)
    backtest = validation.run_backtest(scorecard=default)
    assert backtest.metrics.enough  # ≥ 30 churned and ≥ 30 retained
    assert backtest.metrics.auc is not None and backtest.metrics.auc > 0.7
    suggestion = validation.run_suggestion(scorecard=default)
    assert suggestion.auc_suggested is not None
    kinds = dict(Outcome.objects.values_list("account__external_id", "kind"))

    again = demo_outcomes.seed(today=today)
    assert again == {"outcomes": 0, "churn_models": 0}
    assert ChurnModel.objects.count() == 1
    # Deterministic: the plan gives the same outcomes when asked again.
    Outcome.objects.all().delete()
    demo_outcomes.seed(today=today)
    assert dict(Outcome.objects.values_list("account__external_id", "kind")) == kinds
