"""``bench load`` runs end to end for a few seconds on a tiny dataset, so it cannot rot:
gunicorn, a worker and beat start, sessions log in and browse, integrations ingest, every
value is stored and rescored, and nothing of the bench is left behind."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command

from accounts.models import Account, ApiToken, Team, User
from chs_site.bench_load import page_kind
from scoring.models import DirtyAccount, MetricValue, Score
from tests.conftest import database_url_for_current_test_db


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_bench_load_serves_every_page_stores_and_rescores_every_value(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The servers it starts read this test database, with the suite's fast password hashing.
    monkeypatch.setenv("DATABASE_URL", database_url_for_current_test_db())
    monkeypatch.setenv("CHS_TESTING", "1")
    users, teams = User.objects.count(), Team.objects.count()
    out = StringIO()
    call_command(
        "bench",
        "load",
        "--accounts",
        "60",
        "--seconds",
        "3",
        "--sessions",
        "5",
        "--api-clients",
        "2",
        "--think-time",
        "0.2",
        stdout=out,
    )
    figures = [json.loads(line) for line in out.getvalue().splitlines()]
    by_case = {f["case"]: f for f in figures if "case" in f}
    pages = {f["page"]: f for f in figures if "page" in f}

    assert by_case["setup"]["sessions_logged_in"] == 5
    assert {"portfolio", "account", "tasks", "api_ingest"} <= set(pages)
    assert all(f["requests"] > 0 and f["p99_ms"] >= f["p50_ms"] > 0 for f in pages.values())
    assert all(f["server_p50_ms"] > 0 for f in pages.values())
    assert by_case["requests"]["errors"] == 0, by_case["requests"]["errors_by_status"]
    ingest = by_case["ingest"]
    assert ingest["values_sent"] == ingest["values_accepted"] == ingest["values_stored"] > 0
    assert ingest["accounts_ingested"] == 60
    rescored = by_case["rescored"]
    assert rescored["accounts_not_rescored"] == 0 and rescored["dirty_now"] == 0
    assert rescored["seconds_until_all_rescored"] is not None

    # Only the test's own data is left.
    assert list(Account.objects.values_list("pk", flat=True)) == [account.pk]
    assert (User.objects.count(), Team.objects.count()) == (users, teams)
    assert not ApiToken.objects.exists()
    assert not MetricValue.objects.exists() and not Score.objects.exists()
    assert not DirtyAccount.objects.exists()


def test_requests_count_under_the_page_they_belong_to() -> None:
    assert page_kind("/portfolio/?band=red") == "portfolio"
    assert page_kind("/accounts/ACME-1/") == "account"
    assert page_kind("/accounts/ACME-1/timeline/") == "account_parts"
    assert page_kind("/accounts/ACME-1/success-plan/") == "account_parts"
    assert page_kind("/tasks/?status=open") == "tasks"
    assert page_kind("/api/v1/metrics/") == "api_ingest"
