"""The Today page: each reason in words, the ranking rule, snoozes, headline figures, the
scope of every view, and the row that updates after an action."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import Account, Activity, Feedback, LifecycleStage, User
from accounts.selectors.access import visible_accounts
from accounts.selectors.attention import headlines_by_owner, quarter_bounds
from playbooks.models import AttentionSnooze, Task
from playbooks.selectors.attention import Rule, attention, today_board
from playbooks.services.attention import snooze_attention
from scoring.models import Score, Scorecard
from tests.conftest import client_for
from tests.factories import AccountFactory, FeedbackFactory, TaskFactory, UserFactory

pytestmark = pytest.mark.django_db

RULE = Rule(drop_points=10, lookback_days=14, renewal_days=60)


def history(account: Account, card: Scorecard, *rows: tuple[int, float, str]) -> None:
    """Score history rows (days ago, score, band) under ``card``."""
    now = timezone.now()
    Score.objects.bulk_create(
        Score(
            account=account,
            scorecard=card,
            score=score,
            band=band,
            computed_at=now - dt.timedelta(days=days),
        )
        for days, score, band in rows
    )


def reasons_of(accounts: Any, account: Account) -> list[str]:
    found = attention(accounts, rule=RULE, now=timezone.now())
    for item in found.items:
        if item.account.pk == account.pk:
            return [r.text for r in item.reasons]
    return []


def far_renewal() -> dt.date:
    return timezone.localdate() + dt.timedelta(days=200)


# --- each reason -------------------------------------------------------------------------


def test_entered_red_says_when_and_from_what(csm: User, scorecard: Scorecard) -> None:
    acme = AccountFactory.create(owner=csm, score=38, renewal_date=far_renewal())
    history(acme, scorecard, (30, 70, "green"), (9, 55, "yellow"), (2, 38, "red"))
    assert reasons_of(visible_accounts(csm), acme) == [
        "Entered red 2 days ago (score 38, was 55)",
        "Score fell 17 points below its 14-day high (from 55 to 38)",
    ]


def test_red_for_longer_than_the_look_back_is_not_news(csm: User, scorecard: Scorecard) -> None:
    old = AccountFactory.create(owner=csm, score=20, renewal_date=far_renewal())
    history(old, scorecard, (40, 60, "yellow"), (30, 20, "red"), (1, 20, "red"))
    assert reasons_of(visible_accounts(csm), old) == []


def test_red_from_its_first_score_says_so(csm: User, scorecard: Scorecard) -> None:
    new = AccountFactory.create(owner=csm, score=25, renewal_date=far_renewal())
    history(new, scorecard, (3, 25, "red"))
    assert reasons_of(visible_accounts(csm), new) == [
        "Entered red 3 days ago (score 25, its first score)"
    ]


def test_a_drop_of_at_least_the_threshold_is_a_reason(csm: User, scorecard: Scorecard) -> None:
    fell = AccountFactory.create(owner=csm, score=62, renewal_date=far_renewal())
    history(fell, scorecard, (10, 74, "green"), (1, 62, "yellow"))
    slipped = AccountFactory.create(owner=csm, score=66, renewal_date=far_renewal())
    history(slipped, scorecard, (10, 74, "green"), (1, 66, "yellow"))
    assert reasons_of(visible_accounts(csm), fell) == [
        "Score fell 12 points below its 14-day high (from 74 to 62)"
    ]
    assert reasons_of(visible_accounts(csm), slipped) == []  # 8 < 10 points


def test_renewal_soon_while_not_green(csm: User) -> None:
    today = timezone.localdate()
    renews = today + dt.timedelta(21)
    soon = AccountFactory.create(owner=csm, yellow=True, renewal_date=renews)
    green = AccountFactory.create(owner=csm, green=True, renewal_date=today + dt.timedelta(21))
    unscored = AccountFactory.create(owner=csm, renewal_date=today + dt.timedelta(5))
    later = AccountFactory.create(owner=csm, red=True, renewal_date=today + dt.timedelta(90))
    churned = AccountFactory.create(
        owner=csm,
        red=True,
        renewal_date=today + dt.timedelta(3),
        lifecycle_stage=LifecycleStage.CHURNED,
    )
    scope = visible_accounts(csm)
    when = f"{renews.day} {renews:%b}"
    assert reasons_of(scope, soon)[0].startswith("Renews in 21 days (")
    assert reasons_of(scope, soon) == [f"Renews in 21 days ({when}) and is yellow"]
    assert reasons_of(scope, unscored)[0].endswith("and has no score yet")
    assert reasons_of(scope, green) == []
    assert reasons_of(scope, later) == []
    assert reasons_of(scope, churned) == []


def test_overdue_tasks_counted_with_the_oldest(csm: User, teammate: User) -> None:
    today = timezone.localdate()
    acme = AccountFactory.create(owner=csm, green=True, renewal_date=far_renewal())
    TaskFactory.create(account=acme, due_date=today - dt.timedelta(days=5))
    TaskFactory.create(account=acme, assignee=teammate, due_date=today - dt.timedelta(days=1))
    TaskFactory.create(account=acme, due_date=today)  # due today: not overdue
    TaskFactory.create(account=acme, due_date=today - dt.timedelta(days=9), status="done")
    assert reasons_of(visible_accounts(csm), acme) == ["2 tasks overdue (oldest 5 days)"]


def test_detractor_feedback_in_words(csm: User) -> None:
    acme = AccountFactory.create(owner=csm, green=True, renewal_date=far_renewal())
    when = timezone.now() - dt.timedelta(days=2)
    FeedbackFactory.create(
        account=acme,
        kind=Feedback.Kind.NPS,
        score=3,
        author=csm,
        text="Support is slow",
        occurred_at=when,
    )
    FeedbackFactory.create(account=acme, kind=Feedback.Kind.NPS, score=9, occurred_at=when)
    day = timezone.localtime(when).date()
    assert reasons_of(visible_accounts(csm), acme) == [
        f"Detractor: NPS 3 on {day.day} {day:%b}, logged by {csm.display_name}: “Support is slow”"
    ]


def test_negative_call_counts_and_old_feedback_does_not(csm: User) -> None:
    acme = AccountFactory.create(owner=csm, green=True, renewal_date=far_renewal())
    FeedbackFactory.create(
        account=acme,
        kind=Feedback.Kind.CALL,
        sentiment=Feedback.Sentiment.NEGATIVE,
        occurred_at=timezone.now() - dt.timedelta(days=1),
    )
    stale = AccountFactory.create(owner=csm, green=True, renewal_date=far_renewal())
    FeedbackFactory.create(
        account=stale,
        kind=Feedback.Kind.NPS,
        score=0,
        occurred_at=timezone.now() - dt.timedelta(days=30),
    )
    assert reasons_of(visible_accounts(csm), acme)[0].startswith("Negative call on ")
    assert reasons_of(visible_accounts(csm), stale) == []


# --- ranking, scope, snoozes -----------------------------------------------------------


def test_ranked_by_summed_weights_then_arr(csm: User, scorecard: Scorecard) -> None:
    today = timezone.localdate()
    # Renewal (20) + overdue (15) = 35 beats a lone renewal (20); ties go to the larger ARR.
    both = AccountFactory.create(
        owner=csm, yellow=True, arr=Decimal(1000), renewal_date=today + dt.timedelta(10)
    )
    TaskFactory.create(account=both, due_date=today - dt.timedelta(days=1))
    small = AccountFactory.create(
        owner=csm, yellow=True, arr=Decimal(5000), renewal_date=today + dt.timedelta(10)
    )
    large = AccountFactory.create(
        owner=csm, yellow=True, arr=Decimal(90000), renewal_date=today + dt.timedelta(10)
    )
    red = AccountFactory.create(owner=csm, score=30, renewal_date=far_renewal())
    history(red, scorecard, (5, 50, "yellow"), (1, 30, "red"))  # entered red 40 + drop 25
    found = attention(visible_accounts(csm), rule=RULE, now=timezone.now())
    assert [i.account.pk for i in found.items] == [red.pk, both.pk, large.pk, small.pk]
    assert [i.rank for i in found.items] == [65, 35, 20, 20]


def test_scope_is_the_users_book_or_team(
    csm: User, teammate: User, other_csm: User, manager: User, admin: User
) -> None:
    soon = timezone.localdate() + dt.timedelta(days=5)
    mine = AccountFactory.create(owner=csm, red=True, renewal_date=soon)
    theirs = AccountFactory.create(owner=teammate, red=True, renewal_date=soon)
    other = AccountFactory.create(owner=other_csm, red=True, renewal_date=soon)
    now = timezone.now()

    def ids(user: User) -> set[int]:
        return {i.account.pk for i in today_board(user, now=now).items}

    assert ids(csm) == {mine.pk}
    assert ids(manager) == {mine.pk, theirs.pk}
    assert ids(admin) == {mine.pk, theirs.pk, other.pk}
    assert {i.account.pk for i in today_board(manager, now=now, person=teammate).items} == {
        theirs.pk
    }


def test_snooze_hides_until_its_date_or_a_new_reason(csm: User) -> None:
    today = timezone.localdate()
    acme = AccountFactory.create(owner=csm, yellow=True, renewal_date=today + dt.timedelta(9))
    scope = visible_accounts(csm)
    snooze = snooze_attention(
        actor=csm, account=acme, days=7, reason_keys=["renewal"], note="Renewal call booked"
    )
    assert snooze.until == today + dt.timedelta(days=7)
    found = attention(scope, rule=RULE, now=timezone.now())
    assert (found.items, found.snoozed) == ([], 1)
    line = Activity.objects.get(account=acme, kind=Activity.Kind.ATTENTION_SNOOZED)
    assert "7 days" in line.summary
    assert line.summary.endswith("Renewal call booked")
    assert line.actor == csm
    # Its date passes: back.
    later = timezone.now() + dt.timedelta(days=7)
    assert [i.account.pk for i in attention(scope, rule=RULE, now=later).items] == [acme.pk]
    # A new reason (an overdue task) brings it back early.
    TaskFactory.create(account=acme, due_date=today - dt.timedelta(days=1))
    items = attention(scope, rule=RULE, now=timezone.now()).items
    assert [i.account.pk for i in items] == [acme.pk]
    assert [r.kind for r in items[0].reasons] == ["renewal", "overdue"]


def test_snooze_refuses_bad_days_and_nothing_to_snooze(csm: User, account: Account) -> None:
    from chs_site.errors import ValidationFailed

    with pytest.raises(ValidationFailed, match="1 to 90 days"):
        snooze_attention(actor=csm, account=account, days=0, reason_keys=["renewal"])
    with pytest.raises(ValidationFailed, match="nothing to snooze"):
        snooze_attention(actor=csm, account=account, days=3, reason_keys=[])
    assert not AttentionSnooze.objects.exists()


# --- headline figures --------------------------------------------------------------------


def test_headline_arr_at_risk_and_renewals_this_quarter_by_band(csm: User, teammate: User) -> None:
    today = timezone.localdate()
    start, end = quarter_bounds(today)
    in_quarter = end - dt.timedelta(days=1)
    AccountFactory.create(owner=csm, red=True, arr=Decimal(100), renewal_date=in_quarter)
    AccountFactory.create(owner=csm, yellow=True, arr=Decimal(40), renewal_date=end)
    AccountFactory.create(owner=csm, green=True, arr=Decimal(7), renewal_date=in_quarter)
    AccountFactory.create(
        owner=csm,
        red=True,
        arr=Decimal(1),
        renewal_date=in_quarter,
        lifecycle_stage=LifecycleStage.CHURNED,
    )
    AccountFactory.create(owner=teammate, yellow=True, arr=Decimal(5), renewal_date=in_quarter)
    lines = headlines_by_owner(visible_accounts(csm), today=today)
    assert list(lines) == [csm.pk]
    mine = lines[csm.pk]
    assert mine.arr_at_risk == Decimal(141)
    assert mine.renewals == {"red": 1, "yellow": 0, "green": 1, "none": 0}
    assert mine.renewal_arr["red"] == Decimal(100)
    assert mine.renewals_not_green == 1


def test_quarter_bounds() -> None:
    assert quarter_bounds(dt.date(2026, 12, 4)) == (dt.date(2026, 10, 1), dt.date(2027, 1, 1))
    assert quarter_bounds(dt.date(2026, 2, 28)) == (dt.date(2026, 1, 1), dt.date(2026, 4, 1))


# --- pages -------------------------------------------------------------------------------


@pytest.fixture
def book(csm: User, teammate: User, other_csm: User, scorecard: Scorecard) -> dict[str, Account]:
    today = timezone.localdate()
    red = AccountFactory.create(
        owner=csm, name="Fell Red", score=30, arr=Decimal(80000), renewal_date=far_renewal()
    )
    history(red, scorecard, (20, 60, "yellow"), (2, 30, "red"))
    renewing = AccountFactory.create(
        owner=teammate, name="Renews Soon", yellow=True, renewal_date=today + dt.timedelta(12)
    )
    other = AccountFactory.create(
        owner=other_csm, name="Elsewhere", red=True, renewal_date=today + dt.timedelta(3)
    )
    return {"red": red, "renewing": renewing, "other": other}


def test_sign_in_and_root_land_on_today(csm: User, client: Client) -> None:
    response = client.post("/login/", {"username": "csm", "password": "pw"})
    assert response.status_code == 302
    assert response["Location"] == "/today/"
    assert client.get("/")["Location"] == "/today/"


def test_csm_today_shows_own_book_with_reasons(
    book: dict[str, Account], csm_client: Client, django_assert_max_num_queries: Any
) -> None:
    with django_assert_max_num_queries(14):
        response = csm_client.get("/today/")
    page = response.content.decode()
    assert response.status_code == 200
    assert "Fell Red" in page
    assert "Entered red 2 days ago (score 30, was 60)" in page
    assert "Renews Soon" not in page and "Elsewhere" not in page
    assert "How this list is ranked" in page
    assert "By person" not in page
    nav = page.split('class="mainnav"')[1]
    assert nav.index(">Today<") < nav.index(">Portfolio<")


def test_query_count_does_not_grow_with_the_book(
    csm: User, csm_client: Client, scorecard: Scorecard, django_assert_num_queries: Any
) -> None:
    def count() -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as queries:
            assert csm_client.get("/today/").status_code == 200
        return len(queries)

    today = timezone.localdate()
    first = AccountFactory.create(owner=csm, score=30, renewal_date=today + dt.timedelta(4))
    history(first, scorecard, (5, 60, "yellow"), (1, 30, "red"))
    TaskFactory.create(account=first, due_date=today - dt.timedelta(days=2))
    one = count()
    for n in range(8):
        more = AccountFactory.create(owner=csm, score=30, renewal_date=today + dt.timedelta(n))
        history(more, scorecard, (5, 60, "yellow"), (1, 30, "red"))
        TaskFactory.create(account=more, due_date=today - dt.timedelta(days=2))
        FeedbackFactory.create(account=more, kind=Feedback.Kind.NPS, score=2, author=csm)
    assert count() == one


def test_manager_home_is_the_team_with_a_line_per_person(
    book: dict[str, Account],
    manager_client: Client,
    csm: User,
    teammate: User,
    django_assert_max_num_queries: Any,
) -> None:
    with django_assert_max_num_queries(16):
        response = manager_client.get("/today/")
    page = response.content.decode()
    assert "Fell Red" in page and "Renews Soon" in page
    assert "Elsewhere" not in page
    assert "By person" in page
    assert f"?owner={teammate.username}" in page
    narrowed = manager_client.get("/today/", {"owner": teammate.username}).content.decode()
    assert "Renews Soon" in narrowed and "Fell Red" not in narrowed


def test_per_person_view_outside_scope_is_404(
    book: dict[str, Account], manager_client: Client, csm_client: Client, teammate: User
) -> None:
    assert manager_client.get("/today/", {"owner": "other_csm"}).status_code == 404
    assert manager_client.get("/today/", {"owner": "nobody"}).status_code == 404
    assert csm_client.get("/today/", {"owner": teammate.username}).status_code == 404
    assert csm_client.get("/today/", {"owner": "csm"}).status_code == 200
    for bad in ("nul\x00", "x" * 5000):
        assert manager_client.get("/today/", {"owner": bad}).status_code == 404


def test_admin_sees_every_book(book: dict[str, Account], admin_client: Client) -> None:
    page = admin_client.get("/today/").content.decode()
    assert "Fell Red" in page and "Renews Soon" in page and "Elsewhere" in page


@pytest.mark.parametrize("action", ["call", "task", "snooze", "unsnooze"])
def test_actions_on_another_books_account_are_404(
    book: dict[str, Account], csm_client: Client, manager_client: Client, action: str
) -> None:
    for client, account in ((csm_client, book["renewing"]), (manager_client, book["other"])):
        url = f"/today/{account.external_id}/{action}/"
        assert client.post(url, {"days": "3"}).status_code == 404
    assert not AttentionSnooze.objects.exists()


def test_log_a_call_returns_the_row_updated(book: dict[str, Account], csm_client: Client) -> None:
    red = book["red"]
    url = f"/today/{red.external_id}/call/"
    form = csm_client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert f'id="attention-{red.pk}"' in form
    assert f'name="call-{red.pk}-kind"' in form
    response = csm_client.post(
        url,
        {f"call-{red.pk}-kind": "call", f"call-{red.pk}-text": "Agreed a rescue plan"},
        headers={"HX-Request": "true"},
    )
    row = response.content.decode()
    assert response.status_code == 200
    assert "Call logged for Fell Red." in row
    assert "Entered red 2 days ago" in row  # still needs attention: the row stays
    assert Feedback.objects.get(account=red).text == "Agreed a rescue plan"


def test_log_a_call_with_bad_input_says_which_field(
    book: dict[str, Account], csm_client: Client
) -> None:
    red = book["red"]
    url = f"/today/{red.external_id}/call/"
    data = {f"call-{red.pk}-kind": "nps"}
    row = csm_client.post(url, data, headers={"HX-Request": "true"}).content.decode()
    assert "An NPS answer needs a score from 0 to 10." in row
    page = csm_client.post(url, data)
    assert page.status_code == 400
    assert "An NPS answer needs a score from 0 to 10." in page.content.decode()
    assert not Feedback.objects.exists()


def test_create_a_task_from_today(book: dict[str, Account], csm: User, csm_client: Client) -> None:
    red = book["red"]
    url = f"/today/{red.external_id}/task/"
    response = csm_client.post(
        url, {f"task-{red.pk}-title": "Rescue call", f"task-{red.pk}-priority": "high"}
    )
    assert response.status_code == 302 and response["Location"] == "/today/"
    task = Task.objects.get(account=red)
    assert (task.title, task.assignee, task.priority) == ("Rescue call", csm, "high")
    missing = csm_client.post(url, {}, headers={"HX-Request": "true"}).content.decode()
    assert "This field is required." in missing


def test_snooze_from_today_hides_the_row_and_undo_brings_it_back(
    book: dict[str, Account], csm_client: Client
) -> None:
    red = book["red"]
    response = csm_client.post(
        f"/today/{red.external_id}/snooze/", {"days": "3"}, headers={"HX-Request": "true"}
    )
    row = response.content.decode()
    assert "Fell Red snoozed until" in row
    assert "Undo snooze" in row
    assert f'id="attention-{red.pk}"' not in csm_client.get("/today/").content.decode()
    entered = timezone.localdate() - dt.timedelta(days=2)
    snooze = AttentionSnooze.objects.get(account=red)
    assert snooze.reason_keys == [f"entered_red:{entered.isoformat()}"]
    back = csm_client.post(f"/today/{red.external_id}/unsnooze/", headers={"HX-Request": "true"})
    assert "is back on Today" in back.content.decode()
    assert not AttentionSnooze.objects.exists()
    lines = Activity.objects.filter(account=red, kind=Activity.Kind.ATTENTION_SNOOZED)
    assert sorted(line.summary[:20] for line in lines) == [
        "Snooze on Today ende",
        "Snoozed on Today for",
    ]


def test_snooze_with_bad_days_is_refused_in_words(
    book: dict[str, Account], csm_client: Client
) -> None:
    red = book["red"]
    row = csm_client.post(
        f"/today/{red.external_id}/snooze/", {"days": "999"}, headers={"HX-Request": "true"}
    ).content.decode()
    assert "Select a valid choice" in row
    assert not AttentionSnooze.objects.exists()


def test_a_person_without_accounts_gets_an_empty_today(db: None) -> None:
    loner = UserFactory.create(username="loner")
    page = client_for(loner).get("/today/").content.decode()
    assert "Nothing needs attention right now." in page


def test_a_long_list_pages_in_rank_order(csm: User, csm_client: Client) -> None:
    today = timezone.localdate()
    for n in range(52):  # renewing while yellow; larger ARR ranks first
        AccountFactory.create(
            owner=csm,
            name=f"Renewing {n:02d}",
            yellow=True,
            arr=Decimal(1000 + n),
            renewal_date=today + dt.timedelta(days=30),
        )
    first = csm_client.get("/today/").content.decode()
    assert "Renewing 51" in first and "Renewing 01" not in first
    assert "Page 1 of 2" in first
    second = csm_client.get("/today/", {"page": "2"}, headers={"HX-Request": "true"})
    html = second.content.decode()
    assert "Renewing 01" in html and "Renewing 00" in html and "Renewing 51" not in html
    assert "<h1>" not in html  # the list alone, swapped in place
