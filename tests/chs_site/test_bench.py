"""``manage.py bench`` (chs_site's command): figures as JSON lines, and no data left behind."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command

from accounts.models import Account, Team, User

pytestmark = pytest.mark.django_db


def test_bench_prints_json_lines_and_leaves_no_data(db: None) -> None:
    out = StringIO()
    call_command("bench", "portfolio_page", stdout=out)
    figures = [json.loads(line) for line in out.getvalue().splitlines()]
    portfolio = [f for f in figures if f["bench"] == "portfolio_page"]
    assert {f["role"] for f in portfolio} == {"csm", "manager", "admin"}
    # A CSM's page as before; managers and admins also read saved views and the teams to
    # share them with.
    budget = {"csm": 8, "manager": 12, "admin": 12}
    assert all(
        f["ms_per_request"] > 0 and f["queries_per_request"] <= budget[f["role"]] for f in portfolio
    )
    assert Account.objects.count() == 0  # the benchmark's data was rolled back


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_bench_pages_commits_its_data_then_deletes_only_that(account: Account) -> None:
    """The pages bench measures committed, vacuumed tables (as in production) and leaves
    the database as it found it."""
    from scoring.models import MetricDefinition, Score

    users, teams = User.objects.count(), Team.objects.count()
    metrics = MetricDefinition.objects.count()
    out = StringIO()
    call_command("bench", "pages", "--scale", "0.001", "--runs", "2", stdout=out)
    figures = [json.loads(line) for line in out.getvalue().splitlines()]
    timed = [f for f in figures if f.get("page") in ("portfolio", "account")]
    assert {f["role"] for f in timed} == {"csm", "manager", "admin"}
    assert all(f.get("status", 200) == 200 and f["p95_ms"] >= f["p50_ms"] > 0 for f in timed)
    today = [f for f in figures if f.get("page") == "today"]
    assert {(f["role"], f["case"]) for f in today} >= {("csm", "home"), ("manager", "one person")}
    assert all(f["status"] == 200 and f["max_queries"] <= 16 for f in today)
    assert max(f["max_queries"] for f in timed if f["page"] == "portfolio") <= 12
    search = [f for f in figures if f.get("page") == "search"]
    assert {(f["role"], f["case"]) for f in search} == {
        (role, case)
        for role in ("csm", "manager", "admin")
        for case in ("results page", "drop-down", "no match")
    }
    # Per group one query, plus (managers) the team's ids each scope looks up first.
    assert [f for f in search if f["status"] != 200 or f["max_queries"] > 10] == []
    assert list(Account.objects.values_list("pk", flat=True)) == [account.pk]
    assert (User.objects.count(), Team.objects.count()) == (users, teams)
    assert MetricDefinition.objects.count() == metrics
    assert not Score.objects.exists()


def test_bench_segment_accepts_and_rolls_up_every_event_and_leaves_no_data(db: None) -> None:
    from scoring.models import MetricValue, SegmentMessage, SegmentSettings

    out = StringIO()
    call_command("bench", "segment", "--events", "600", stdout=out)
    figures = {f["bench"]: f for f in map(json.loads, out.getvalue().splitlines())}
    accept, rollup = figures["segment_accept"], figures["segment_rollup"]
    assert (accept["events"], accept["requests"], accept["staged"]) == (600, 6, 600)
    assert accept["events_per_second"] > 0
    # Three accounts, two days, each with active users, events and two selected events.
    assert (rollup["events"], rollup["skipped"]) == (600, 0)
    assert rollup["metric_values_stored"] == rollup["metric_values_written"] == 3 * 2 * 4
    assert not Account.objects.exists() and not SegmentSettings.objects.exists()
    assert not SegmentMessage.objects.exists() and not MetricValue.objects.exists()
