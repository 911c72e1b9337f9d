"""The manager's team dashboard and the aggregates behind it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import Account, User
from accounts.selectors.access import visible_accounts
from playbooks.services.tasks import create_task
from scoring.models import Score, Scorecard
from scoring.selectors.team import average_score_by_day
from tests.conftest import client_for
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


def history(account: Account, card: Scorecard, *rows: tuple[int, float, str]) -> None:
    now = timezone.now()
    Score.objects.bulk_create(
        Score(
            account=account,
            scorecard=card,
            score=score,
            band=band,
            computed_at=now - dt.timedelta(days=days_ago),
        )
        for days_ago, score, band in rows
    )


@pytest.fixture
def team_book(
    csm: User, teammate: User, other_csm: User, scorecard: Scorecard
) -> dict[str, Account]:
    today = timezone.localdate()
    red_new = AccountFactory.create(
        owner=csm,
        name="Fell Red",
        score=30,
        arr=Decimal("100000"),
        renewal_date=today + dt.timedelta(days=10),
    )
    history(red_new, scorecard, (40, 80, "green"), (20, 60, "yellow"), (2, 30, "red"))
    red_old = AccountFactory.create(
        owner=teammate,
        name="Long Red",
        score=20,
        arr=Decimal("50000"),
        renewal_date=today + dt.timedelta(days=120),
    )
    history(red_old, scorecard, (60, 20, "red"))
    yellow = AccountFactory.create(
        owner=teammate,
        name="Yellow One",
        score=50,
        arr=Decimal("30000"),
        renewal_date=today + dt.timedelta(days=15),
    )
    history(yellow, scorecard, (35, 50, "yellow"))
    green = AccountFactory.create(
        owner=csm,
        name="Green One",
        score=90,
        arr=Decimal("999999"),
    )
    history(green, scorecard, (50, 90, "green"))
    outsider = AccountFactory.create(
        owner=other_csm, name="Outsider Red", score=10, arr=Decimal("7")
    )
    history(outsider, scorecard, (1, 10, "red"))
    return {"red_new": red_new, "red_old": red_old, "yellow": yellow, "green": green}


@pytest.mark.parametrize(
    ("persona", "status"), [("csm", 404), ("other_csm", 404), ("manager", 200), ("admin", 200)]
)
def test_team_dashboard_is_for_managers_and_admins(
    request: pytest.FixtureRequest, persona: str, status: int
) -> None:
    assert client_for(request.getfixturevalue(persona)).get("/team/").status_code == status


def test_team_dashboard_requires_login(client: Client) -> None:
    assert client.get("/team/").status_code == 302


def test_manager_sees_bands_now_and_then_at_risk_arr_entered_red_and_workload(
    manager_client: Client, csm: User, team_book: dict[str, Account]
) -> None:
    create_task(
        actor=csm,
        account=team_book["red_new"],
        title="Overdue call",
        due_date=timezone.localdate() - dt.timedelta(days=2),
    )
    create_task(actor=csm, account=team_book["red_new"], title="Later call")
    response = manager_client.get("/team/")
    ctx = response.context
    assert ctx["bands_now"] == {"red": 2, "yellow": 1, "green": 1}
    # 30 days ago: Fell Red was green, Long Red red, Yellow One yellow, Green One green.
    assert ctx["bands_before"] == {"green": 2, "red": 1, "yellow": 1}
    assert [a.name for a in ctx["entered_red"]] == ["Fell Red"]
    assert sum(q["red_arr"] for q in ctx["quarters"]) == Decimal("150000")
    assert sum(q["yellow_arr"] for q in ctx["quarters"]) == Decimal("30000")
    people = {p.username: p for p in ctx["people"]}
    assert set(people) == {"csm", "teammate"}
    assert (people["csm"].book_size, people["csm"].red, people["csm"].green) == (2, 1, 1)
    assert (people["csm"].open_tasks, people["csm"].overdue_tasks) == (2, 1)
    assert people["teammate"].book_avg == pytest.approx(35.0)
    body = response.content.decode()
    assert "Outsider Red" not in body
    assert "/portfolio/?owner=csm&amp;band=red" in body  # links into the filtered portfolio
    assert "/portfolio/?band=red" in body
    assert body.count("<svg") >= 3 and "<script" not in body.split("<main", 1)[1]


def test_admin_sees_every_team(admin_client: Client, team_book: dict[str, Account]) -> None:
    ctx = admin_client.get("/team/").context
    assert ctx["bands_now"]["red"] == 3
    assert {p.username for p in ctx["people"]} >= {"csm", "teammate", "other_csm"}


def test_team_dashboard_with_no_accounts_says_what_to_do(manager_client: Client) -> None:
    body = manager_client.get("/team/").content.decode()
    assert "No accounts yet." in body


def test_team_dashboard_query_count_is_fixed(
    manager_client: Client,
    csm: User,
    teammate: User,
    scorecard: Scorecard,
    django_assert_max_num_queries: Any,
) -> None:
    for owner in (csm, teammate):
        for account in AccountFactory.create_batch(25, owner=owner, red=True):
            history(account, scorecard, (3, 30, "red"), (40, 60, "yellow"))
    with django_assert_max_num_queries(14):
        assert manager_client.get("/team/").status_code == 200


def test_average_score_by_day_carries_each_accounts_score_forward(
    csm: User, scorecard: Scorecard
) -> None:
    a = AccountFactory.create(owner=csm)
    b = AccountFactory.create(owner=csm)
    now = timezone.now()
    for account, days_ago, score in ((a, 10, 40.0), (a, 5, 60.0), (b, 30, 80.0), (b, 2, 70.0)):
        Score.objects.create(
            account=account,
            scorecard=scorecard,
            score=score,
            band="yellow",
            computed_at=now - dt.timedelta(days=days_ago),
        )
    today = timezone.localdate()
    series = dict(
        average_score_by_day(visible_accounts(csm), start=today - dt.timedelta(days=12), end=today)
    )
    day = lambda n: (now - dt.timedelta(days=n)).date()  # noqa: E731
    assert series[today - dt.timedelta(days=12)] == 80.0  # only b had a score then
    assert series[day(10)] == 60.0  # (40 + 80) / 2
    assert series[day(5)] == 70.0  # (60 + 80) / 2
    assert series[day(2)] == 65.0  # (60 + 70) / 2
    assert series[today] == 65.0
