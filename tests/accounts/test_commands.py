from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from accounts.models import Account, Contact, Role, Team, User

pytestmark = pytest.mark.django_db


def test_create_user_with_role_and_team() -> None:
    call_command(
        "create_user", "jane", "--role", "csm", "--team", "Atlas", "--password", "s3cret-pw"
    )
    jane = User.objects.get(username="jane")
    assert jane.role == Role.CSM
    assert jane.team and jane.team.name == "Atlas"
    assert jane.check_password("s3cret-pw")


def test_create_manager_manages_the_named_team() -> None:
    call_command("create_user", "boss", "--role", "manager", "--team", "Beacon")
    assert Team.objects.get(name="Beacon").manager == User.objects.get(username="boss")


def test_create_admin_is_superuser() -> None:
    call_command("create_user", "root", "--role", "admin", "--password", "pw-pw-pw")
    root = User.objects.get(username="root")
    assert root.is_superuser and root.is_staff and root.is_admin


def test_create_user_refuses_a_duplicate_with_a_clear_message() -> None:
    call_command("create_user", "jane", "--role", "csm")
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_user", "jane", "--role", "csm")


def test_create_user_refuses_an_unknown_role() -> None:
    with pytest.raises(CommandError, match="invalid choice"):
        call_command("create_user", "jane", "--role", "boss")


def test_seed_demo_builds_the_company_and_is_idempotent() -> None:
    call_command("seed_demo", "--quiet-logins")
    users = User.objects.count()
    accounts = list(
        Account.objects.order_by("external_id").values_list(
            "external_id", "name", "owner__username", "arr"
        )
    )
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

    call_command("seed_demo", "--quiet-logins")
    assert User.objects.count() == users
    assert Contact.objects.count() == contacts
    assert (
        list(
            Account.objects.order_by("external_id").values_list(
                "external_id", "name", "owner__username", "arr"
            )
        )
        == accounts
    )


def test_demo_books_are_spread_over_the_csms() -> None:
    call_command("seed_demo", "--quiet-logins")
    sizes = [u.owned_accounts.count() for u in User.objects.filter(role=Role.CSM)]
    assert min(sizes) == max(sizes) == 50


def test_bench_prints_json_lines_and_leaves_no_data(db: None) -> None:
    import json
    from io import StringIO

    from django.core.management import call_command

    from accounts.models import Account

    out = StringIO()
    call_command("bench", "portfolio_page", stdout=out)
    figures = [json.loads(line) for line in out.getvalue().splitlines()]
    portfolio = [f for f in figures if f["bench"] == "portfolio_page"]
    assert {f["role"] for f in portfolio} == {"csm", "manager", "admin"}
    assert all(f["ms_per_request"] > 0 and f["queries_per_request"] <= 8 for f in portfolio)
    assert Account.objects.count() == 0  # the benchmark's data was rolled back


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_bench_pages_commits_its_data_then_deletes_only_that(account: Account) -> None:
    """The pages bench measures committed, vacuumed tables (as in production) and leaves
    the database as it found it."""
    import json
    from io import StringIO

    from scoring.models import MetricDefinition, Score

    users, teams = User.objects.count(), Team.objects.count()
    metrics = MetricDefinition.objects.count()
    out = StringIO()
    call_command("bench", "pages", "--scale", "0.001", "--runs", "2", stdout=out)
    figures = [json.loads(line) for line in out.getvalue().splitlines()]
    timed = [f for f in figures if f.get("page") in ("portfolio", "account")]
    assert {f["role"] for f in timed} == {"csm", "manager", "admin"}
    assert all(f.get("status", 200) == 200 and f["p95_ms"] >= f["p50_ms"] > 0 for f in timed)
    assert max(f["max_queries"] for f in timed if f["page"] == "portfolio") <= 10
    assert list(Account.objects.values_list("pk", flat=True)) == [account.pk]
    assert (User.objects.count(), Team.objects.count()) == (users, teams)
    assert MetricDefinition.objects.count() == metrics
    assert not Score.objects.exists()
