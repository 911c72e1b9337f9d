"""Portfolio filters, sorting, sparklines, HTMX table swaps and the CSV export."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from typing import Any

import factory
import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import Account, User, owner_sort_name
from playbooks.services.tasks import create_task
from scoring.models import Score, Scorecard, ScoreOverride
from tests.conftest import client_for
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true", "HX-Target": "portfolio-table"}


def names(client: Client, query: str = "") -> list[str]:
    response = client.get(f"/portfolio/{query}")
    assert response.status_code == 200
    return [a.name for a in response.context["page"].object_list]


@pytest.fixture
def book(csm: User) -> dict[str, Account]:
    today = timezone.localdate()
    return {
        "red": AccountFactory.create(
            owner=csm,
            name="Red Rock",
            segment="SMB",
            lifecycle_stage="renewal",
            score=20.0,
            score_change_30d=-30.0,
            top_mover="NPS fell from 9 to 3",
            arr=Decimal("5000"),
            renewal_date=today + dt.timedelta(days=20),
        ),
        "yellow": AccountFactory.create(
            owner=csm,
            name="Yellow Yard",
            segment="Enterprise",
            lifecycle_stage="adoption",
            score=55.0,
            score_change_30d=-4.0,
            arr=Decimal("250000"),
            renewal_date=today + dt.timedelta(days=200),
        ),
        "green": AccountFactory.create(
            owner=csm,
            name="Green Grove",
            segment="Mid-Market",
            lifecycle_stage="expansion",
            score=88.0,
            score_change_30d=6.0,
            arr=Decimal("60000"),
            renewal_date=today + dt.timedelta(days=90),
        ),
        "none": AccountFactory.create(
            owner=csm, name="Nodata Nook", segment="SMB", arr=Decimal("1000"), renewal_date=None
        ),
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?band=red", ["Red Rock"]),
        ("?band=yellow", ["Yellow Yard"]),
        ("?band=green", ["Green Grove"]),
        ("?band=none", ["Nodata Nook"]),
        ("?segment=SMB", ["Nodata Nook", "Red Rock"]),
        ("?stage=expansion", ["Green Grove"]),
        ("?renewal_within=30", ["Red Rock"]),
        ("?renewal_within=90", ["Green Grove", "Red Rock"]),
        ("?dropped_by=10", ["Red Rock"]),
        ("?dropped_by=3", ["Red Rock", "Yellow Yard"]),
        ("?q=grove", ["Green Grove"]),
        ("?band=red&segment=Enterprise", []),
    ],
)
def test_each_filter_narrows_the_book(
    csm_client: Client, book: dict[str, Account], query: str, expected: list[str]
) -> None:
    assert names(csm_client, query) == expected


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("account", ["Green Grove", "Nodata Nook", "Red Rock", "Yellow Yard"]),
        ("-account", ["Yellow Yard", "Red Rock", "Nodata Nook", "Green Grove"]),
        ("score", ["Red Rock", "Yellow Yard", "Green Grove", "Nodata Nook"]),
        ("-score", ["Green Grove", "Yellow Yard", "Red Rock", "Nodata Nook"]),
        ("band", ["Red Rock", "Yellow Yard", "Green Grove", "Nodata Nook"]),
        ("-band", ["Nodata Nook", "Green Grove", "Yellow Yard", "Red Rock"]),
        ("trend", ["Red Rock", "Yellow Yard", "Green Grove", "Nodata Nook"]),
        ("-arr", ["Yellow Yard", "Green Grove", "Red Rock", "Nodata Nook"]),
        ("renewal", ["Red Rock", "Green Grove", "Yellow Yard", "Nodata Nook"]),
        ("-renewal", ["Yellow Yard", "Green Grove", "Red Rock", "Nodata Nook"]),
        ("mover", ["Red Rock", "Green Grove", "Nodata Nook", "Yellow Yard"]),
    ],
)
def test_sort_by_any_column_with_missing_values_last(
    csm_client: Client, book: dict[str, Account], sort: str, expected: list[str]
) -> None:
    assert names(csm_client, f"?sort={sort}") == expected


def test_sort_by_open_tasks(csm: User, csm_client: Client, book: dict[str, Account]) -> None:
    for _ in range(2):
        create_task(actor=csm, account=book["green"], title="Expansion call")
    create_task(actor=csm, account=book["none"], title="Get data flowing")
    assert names(csm_client, "?sort=-tasks")[:2] == ["Green Grove", "Nodata Nook"]
    body = csm_client.get("/portfolio/?sort=-tasks").content.decode()
    assert 'aria-sort="descending"' in body


def test_sort_by_owner_for_a_manager(
    manager_client: Client, account: Account, teammate_account: Account
) -> None:
    ordered = names(manager_client, "?sort=owner")
    assert set(ordered) == {"Acme Corp", "Teammate Ltd"}
    assert names(manager_client, "?sort=-owner") == list(reversed(ordered))


def test_owner_sort_is_alphabetical_by_owner_name_and_follows_changes(
    manager: User, manager_client: Client, csm: User, teammate: User
) -> None:
    from types import SimpleNamespace

    from django.contrib import admin
    from django.test import RequestFactory

    from accounts.services.accounts import update_account

    User.objects.filter(pk=csm.pk).update(first_name="Zoe", last_name="Adams")
    User.objects.filter(pk=teammate.pk).update(first_name="anna", last_name="Young")
    csm.refresh_from_db()
    teammate.refresh_from_db()
    alpha = AccountFactory.create(owner=csm, name="Alpha")
    AccountFactory.create(owner=csm, name="Beta")
    AccountFactory.create(owner=teammate, name="Gamma")
    # By the name shown in the column, case-insensitively; ties by account name both ways.
    assert names(manager_client, "?sort=owner") == ["Gamma", "Alpha", "Beta"]
    assert names(manager_client, "?sort=-owner") == ["Alpha", "Beta", "Gamma"]
    update_account(user=manager, account=alpha, data={"owner": teammate})
    assert names(manager_client, "?sort=owner") == ["Alpha", "Gamma", "Beta"]
    # A rename in the admin site re-sorts the renamed person's accounts.
    csm.first_name = "Aaron"
    admin.site._registry[User].save_model(  # type: ignore[attr-defined]
        RequestFactory().post("/"), csm, SimpleNamespace(changed_data=["first_name"]), True
    )
    assert names(manager_client, "?sort=owner") == ["Beta", "Alpha", "Gamma"]


def test_unowned_accounts_sort_last_by_owner_both_ways(
    admin_client: Client, csm: User, teammate: User
) -> None:
    AccountFactory.create(owner=None, name="Orphan")
    AccountFactory.create(owner=csm, name="Mine")
    AccountFactory.create(owner=teammate, name="Theirs")
    assert names(admin_client, "?sort=owner")[-1] == "Orphan"
    assert names(admin_client, "?sort=-owner")[-1] == "Orphan"


@pytest.mark.parametrize("persona", ["manager", "admin"])  # per-owner blocks; the index
@pytest.mark.parametrize("sort", ["owner", "-owner"])
def test_owner_sort_pages_through_owner_boundaries_without_gaps_or_repeats(
    request: pytest.FixtureRequest,
    csm: User,
    teammate: User,
    manager: User,
    admin: User,
    sort: str,
    persona: str,
) -> None:
    User.objects.filter(pk=csm.pk).update(first_name="Bo", last_name="Berg")
    User.objects.filter(pk=teammate.pk).update(first_name="Al", last_name="Amos")
    csm.refresh_from_db()
    teammate.refresh_from_db()
    for owner, n in ((csm, 30), (teammate, 45), (manager, 3), (None, 35)):
        AccountFactory.create_batch(
            n, owner=owner, name=factory.Sequence(lambda i: f"Account {(i * 7919) % 1000:03d}")
        )
    key: dict[int | None, str] = {u.pk: owner_sort_name(u) for u in (csm, teammate, manager)}
    key[None] = ""
    rows = list(Account.objects.values_list("pk", "name", "owner_id"))
    if persona == "manager":
        rows = [r for r in rows if r[2] is not None]  # unowned accounts are the admin's
    by_name = sorted(rows, key=lambda r: (r[1], r[0]))
    owned = sorted((r for r in by_name if r[2]), key=lambda r: key[r[2]], reverse="-" in sort)
    expected = [r[0] for r in owned] + [r[0] for r in by_name if not r[2]]
    client = client_for(request.getfixturevalue(persona))
    seen: list[int] = []
    for page in range(1, (len(rows) + 49) // 50 + 1):
        response = client.get(f"/portfolio/?sort={sort}&page={page}")
        assert response.context["page"].paginator.count == len(rows)
        seen += [a.pk for a in response.context["page"].object_list]
    assert seen == expected
    # One owner's book sorted by owner: that owner's accounts by name.
    response = client.get(f"/portfolio/?owner=teammate&sort={sort}")
    teammates = [r[0] for r in by_name if r[2] == teammate.pk]
    assert [a.pk for a in response.context["page"].object_list] == teammates


def test_column_headers_link_to_their_sort_and_flip_the_current_one(
    csm_client: Client, book: dict[str, Account]
) -> None:
    body = csm_client.get("/portfolio/?band=red&sort=score").content.decode()
    assert 'href="?band=red&amp;sort=-score"' in body  # clicking the sorted column flips it
    assert 'href="?band=red&amp;sort=-arr"' in body  # ARR starts biggest first
    assert 'aria-sort="ascending"' in body


def test_bad_filter_values_are_reported_and_ignored(
    csm_client: Client, book: dict[str, Account]
) -> None:
    response = csm_client.get("/portfolio/?renewal_within=soon&dropped_by=-5&band=purple&sort=x")
    body = response.content.decode()
    assert response.status_code == 200
    assert "Renews within (days): Enter a whole number." in body
    assert "Dropped ≥ (30 days): Ensure this value is greater than or equal to 0." in body
    assert "Band: Select a valid choice." in body
    assert len(response.context["page"].object_list) == 4


def test_owner_filter_for_a_manager_and_choices_limited_to_the_team(
    manager_client: Client, account: Account, teammate_account: Account, other_csm: User
) -> None:
    assert names(manager_client, "?owner=teammate") == ["Teammate Ltd"]
    body = manager_client.get("/portfolio/").content.decode()
    assert 'value="teammate"' in body
    assert 'value="other_csm"' not in body


def test_csm_sees_no_owner_filter_or_column(csm_client: Client, account: Account) -> None:
    body = csm_client.get("/portfolio/").content.decode()
    assert 'name="owner"' not in body
    assert ">Owner<" not in body


def test_htmx_swaps_only_the_table_and_keeps_the_sort(
    csm_client: Client, book: dict[str, Account]
) -> None:
    response = csm_client.get("/portfolio/?band=red&sort=-arr", headers=HX)
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="portfolio-table"')
    # The table and its own bulk-action form only: the filter and saved-view forms stay.
    assert 'id="portfolio-filters"' not in body and "<html" not in body
    assert 'id="save-view-form"' not in body
    assert 'name="sort" value="-arr" form="portfolio-filters"' in body
    assert "Red Rock" in body and "Yellow Yard" not in body
    assert 'hx-swap="outerHTML"' in body
    assert "/portfolio/export.csv?band=red&amp;sort=-arr" in body


def test_row_shows_band_chip_score_override_mark_sparkline_mover_and_tasks(
    csm: User, csm_client: Client, scored_account: Account
) -> None:
    ScoreOverride.objects.create(
        account=scored_account,
        score=90,
        reason="Known good",
        author=csm,
        expires_at=timezone.now() + dt.timedelta(days=3),
    )
    create_task(actor=csm, account=scored_account, title="QBR")
    body = csm_client.get("/portfolio/").content.decode()
    assert f'band band-{scored_account.health_band}"' in body
    assert "tag-override" in body
    assert '<svg class="spark"' in body and "<polyline points=" in body
    assert "30 days ago" in body  # the sparkline's text label
    assert scored_account.top_mover and scored_account.top_mover in body
    row = body[body.index("Acme Corp") :]
    assert '<td class="num">1</td>' in row[: row.index("</tr>")]


def test_expired_override_is_not_marked(csm: User, csm_client: Client, account: Account) -> None:
    ScoreOverride.objects.create(
        account=account,
        score=90,
        reason="old",
        author=csm,
        expires_at=timezone.now() - dt.timedelta(days=1),
    )
    assert "tag-override" not in csm_client.get("/portfolio/").content.decode()


def _book_with_history(owner: User, scorecard: Scorecard, n: int = 50) -> None:
    accounts = AccountFactory.create_batch(
        n,
        owner=owner,
        name=factory.Sequence(lambda i: f"Account {i:03d}"),
        score=50.0,
        score_change_30d=-5.0,
    )
    now = timezone.now()
    Score.objects.bulk_create(
        Score(
            account=a,
            scorecard=scorecard,
            score=40.0 + i,
            band="yellow",
            computed_at=now - dt.timedelta(days=d),
        )
        for a in accounts
        for i, d in enumerate((25, 15, 5))
    )


@pytest.mark.parametrize("persona", ["csm", "manager", "admin"])
def test_portfolio_queries_do_not_grow_with_rows_for_any_role(
    request: pytest.FixtureRequest,
    csm: User,
    scorecard: Scorecard,
    persona: str,
    django_assert_max_num_queries: Any,
) -> None:
    _book_with_history(csm, scorecard)
    client = client_for(request.getfixturevalue(persona))
    # session, user, notifications, team ids (managers), segments (cached), owner choices,
    # saved views, teams to share a view with (managers, admins), count, rows, sparklines:
    # a fixed number whatever the page shows or how it is sorted.
    for query in ("", "?sort=-tasks", "?sort=owner", "?band=yellow&sort=trend", "?q=a&sort=-score"):
        with django_assert_max_num_queries(12):
            response = client.get(f"/portfolio/{query}")
        assert len(response.context["page"].object_list) == 50
    with django_assert_max_num_queries(10):
        client.get("/portfolio/?sort=-arr", headers=HX)


# --- CSV export ----------------------------------------------------------------------------------


def export(client: Client, query: str = "") -> list[list[str]]:
    response = client.get(f"/portfolio/export.csv{query}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response.streaming
    assert "attachment" in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]
    return list(csv.reader(io.StringIO(text)))


def test_export_has_the_columns_and_respects_filters_and_sort(
    csm_client: Client, book: dict[str, Account]
) -> None:
    rows = export(csm_client, "?dropped_by=3&sort=-arr")
    assert rows[0] == [
        "account",
        "external_id",
        "score",
        "band",
        "trend_30d",
        "owner",
        "arr",
        "renewal_date",
    ]
    assert [r[0] for r in rows[1:]] == ["Yellow Yard", "Red Rock"]
    red = rows[2]
    assert red[2:] == [
        "20.0",
        "red",
        "-30.0",
        "csm",
        "5000.00",
        book["red"].renewal_date.isoformat(),  # type: ignore[union-attr]
    ]


@pytest.mark.parametrize(
    ("persona", "expected"),
    [
        ("csm", {"Acme Corp"}),
        ("manager", {"Acme Corp", "Teammate Ltd"}),
        ("admin", {"Acme Corp", "Teammate Ltd", "Other Inc"}),
        ("other_csm", {"Other Inc"}),
    ],
)
def test_export_respects_the_users_scope(
    request: pytest.FixtureRequest,
    account: Account,
    teammate_account: Account,
    other_account: Account,
    persona: str,
    expected: set[str],
) -> None:
    client = client_for(request.getfixturevalue(persona))
    assert {r[0] for r in export(client)[1:]} == expected
    # A filter naming someone else's book cannot widen the scope.
    if persona == "csm":
        assert export(client, "?owner=other_csm") == [export(client)[0]]


@pytest.mark.parametrize("dangerous", ['=HYPERLINK("x")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_export_neutralises_spreadsheet_formulas(
    csm: User, csm_client: Client, dangerous: str
) -> None:
    # An external_id starts with a letter or digit (accounts.models.EXTERNAL_ID_PATTERN), so
    # only the name can carry a formula.
    AccountFactory.create(owner=csm, name=dangerous, external_id="ID1")
    rows = export(csm_client)
    assert rows[1][0] == "'" + dangerous


def test_export_leaves_numbers_alone(csm_client: Client, book: dict[str, Account]) -> None:
    rows = {r[0]: r for r in export(csm_client)[1:]}
    assert rows["Red Rock"][4] == "-30.0"  # a negative trend stays a number
    assert rows["Green Grove"][4] == "6.0"


def test_export_requires_login(client: Client) -> None:
    assert client.get("/portfolio/export.csv").status_code == 302
