"""Bulk actions on the portfolio's ticked rows (or all matching ones): each shows what it
will do with counts and acts only on a confirmed POST, in one transaction, reporting what
it did; ticking an account outside the user's book is a 404."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from accounts.models import Account, Activity, AuditEntry, User
from accounts.selectors import portfolio as portfolio_selectors
from accounts.selectors.portfolio import bulk_selection
from accounts.services import accounts as account_services
from chs_site.errors import ValidationFailed
from playbooks.models import Notification, Task
from playbooks.services import tasks as task_services
from tests.conftest import client_for
from tests.factories import AccountFactory, TaskFactory

pytestmark = pytest.mark.django_db


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def book(csm: User) -> list[Account]:
    return [
        AccountFactory.create(owner=csm, name=name, external_id=ext, health_band=band)
        for name, ext, band in (
            ("Alpha", "A-1", "red"),
            ("Bravo", "B-1", "red"),
            ("Charlie", "C-1", "green"),
        )
    ]


TASK_FORM = {
    "bulk-title": "Renewal call",
    "bulk-description": "",
    "bulk-due_date": "",
    "bulk-priority": "normal",
}


def test_create_tasks_asks_first_with_counts_then_creates_and_reports(
    csm_client: Client, book: list[Account]
) -> None:
    TaskFactory.create(account=book[0], title="Renewal call")
    picked = {"account": ["A-1", "B-1", "C-1"]}
    form = csm_client.get("/portfolio/bulk/tasks/", picked)
    assert form.status_code == 200
    assert "3 selected accounts: Alpha, Bravo, Charlie." in form.content.decode()
    review = csm_client.get("/portfolio/bulk/tasks/", {**picked, **TASK_FORM, "review": "1"})
    body = review.content.decode()
    assert review.status_code == 200 and 'id="confirm-step"' in body
    assert "It creates 2 tasks “Renewal call” for each account&#x27;s owner." in body
    assert "1 account skipped: a task with this title is already open (Alpha)." in body
    assert Task.objects.count() == 1  # nothing yet
    done = csm_client.post(
        "/portfolio/bulk/tasks/", {**picked, **TASK_FORM, "sort": "-arr", "confirm": "yes"}
    )
    assert done.status_code == 302 and done["Location"] == "/portfolio/?sort=-arr"
    assert messages_of(done) == ["Create tasks: 2 tasks created, 1 skipped: already open."]
    assert sorted(Task.objects.values_list("account__name", flat=True)) == [
        "Alpha",
        "Bravo",
        "Charlie",
    ]
    assert Account.objects.get(external_id="B-1").open_task_count == 1


def test_a_post_without_the_confirm_field_does_nothing(
    csm_client: Client, book: list[Account]
) -> None:
    response = csm_client.post("/portfolio/bulk/tasks/", {"account": ["A-1"], **TASK_FORM})
    assert response.status_code == 400
    assert "Nothing was done" in response.content.decode()
    assert not Task.objects.exists()


def test_a_bad_form_is_shown_again_with_its_errors(csm_client: Client, book: list[Account]) -> None:
    response = csm_client.get(
        "/portfolio/bulk/tasks/", {"account": ["A-1"], **TASK_FORM, "bulk-title": "", "review": "1"}
    )
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert 'id="confirm-step"' not in response.content.decode()


def test_ticking_an_account_of_another_book_is_a_404(
    csm_client: Client, book: list[Account], other_account: Account
) -> None:
    for method in ("get", "post"):
        response = getattr(csm_client, method)(
            "/portfolio/bulk/tasks/",
            {"account": ["A-1", other_account.external_id], **TASK_FORM, "confirm": "yes"},
        )
        assert response.status_code == 404
    assert not Task.objects.exists()


def test_nothing_selected_goes_back_with_the_reason(
    csm_client: Client, book: list[Account]
) -> None:
    response = csm_client.get("/portfolio/bulk/tasks/", {"band": "red"})
    assert response.status_code == 302 and response["Location"] == "/portfolio/?band=red"
    assert messages_of(response) == [
        "Select at least one account (tick its row), or choose all matching accounts."
    ]


def test_all_matching_acts_on_the_filtered_book_in_scope(
    csm_client: Client, book: list[Account], other_account: Account
) -> None:
    other_account.health_band = "red"
    other_account.save(update_fields=["health_band"])
    response = csm_client.post(
        "/portfolio/bulk/tasks/", {"all": "1", "band": "red", **TASK_FORM, "confirm": "yes"}
    )
    assert response.status_code == 302
    assert sorted(Task.objects.values_list("account__name", flat=True)) == ["Alpha", "Bravo"]


def test_create_tasks_is_one_transaction(
    csm_client: Client, book: list[Account], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = task_services.create_task
    calls = []

    def fail_on_second(**kwargs: Any) -> Task:
        calls.append(kwargs["account"])
        if len(calls) == 2:
            raise task_services.ValidationFailed("The task is not valid: boom")
        return real(**kwargs)

    monkeypatch.setattr(task_services, "create_task", fail_on_second)
    response = csm_client.post(
        "/portfolio/bulk/tasks/", {"account": ["A-1", "B-1"], **TASK_FORM, "confirm": "yes"}
    )
    assert response.status_code == 400
    assert "boom" in response.content.decode()
    assert not Task.objects.exists()
    assert Account.objects.get(external_id="A-1").open_task_count == 0


def test_outreach_and_owner_changes_are_for_managers_only(
    csm_client: Client, book: list[Account]
) -> None:
    for slug in ("outreach", "owner"):
        assert csm_client.get(f"/portfolio/bulk/{slug}/", {"account": "A-1"}).status_code == 404


def test_a_manager_assigns_outreach_to_the_ticked_accounts_only(
    manager_client: Client, book: list[Account], teammate: User
) -> None:
    form = {
        "account": ["A-1", "C-1"],
        "bulk-title": "Check in with {account_name}",
        "bulk-description": "",
        "bulk-due_in_days": "3",
        "bulk-priority": "high",
        "bulk-assignee": str(teammate.pk),
    }
    review = manager_client.get("/portfolio/bulk/outreach/", {**form, "review": "1"})
    body = review.content.decode()
    assert "It creates 2 outreach tasks" in body
    assert f"{teammate.display_name}: 2 tasks." in body
    done = manager_client.post("/portfolio/bulk/outreach/", {**form, "confirm": "yes"})
    assert messages_of(done) == ["Assign outreach: 2 outreach tasks created."]
    assert sorted(Task.objects.values_list("title", "assignee__username")) == [
        ("Check in with Alpha", "teammate"),
        ("Check in with Charlie", "teammate"),
    ]
    assert Notification.objects.filter(recipient=teammate).count() == 1


def test_a_manager_changes_owners_audited_skipping_those_already_theirs(
    manager_client: Client, book: list[Account], csm: User, teammate: User
) -> None:
    book[2].owner = teammate
    book[2].save(update_fields=["owner"])
    form = {"account": ["A-1", "B-1", "C-1"], "bulk-owner": str(teammate.pk)}
    review = manager_client.get("/portfolio/bulk/owner/", {**form, "review": "1"})
    body = review.content.decode()
    assert f"2 accounts move to {teammate.display_name} (Alpha, Bravo)" in body
    assert "1 account skipped: already" in body
    done = manager_client.post("/portfolio/bulk/owner/", {**form, "confirm": "yes"})
    assert messages_of(done) == [
        f"Change owner: 2 accounts moved to {teammate.display_name}, 1 skipped: already theirs."
    ]
    assert set(Account.objects.values_list("owner__username", flat=True)) == {"teammate"}
    audited = AuditEntry.objects.filter(action=AuditEntry.Action.OWNER_CHANGED)
    assert sorted(audited.values_list("object_id", flat=True)) == ["A-1", "B-1"]
    assert Activity.objects.filter(kind=Activity.Kind.OWNER_CHANGED).count() == 2


def test_owners_cannot_go_outside_the_team(
    manager_client: Client, book: list[Account], other_csm: User
) -> None:
    response = manager_client.post(
        "/portfolio/bulk/owner/",
        {"account": ["A-1"], "bulk-owner": str(other_csm.pk), "confirm": "yes"},
    )
    assert response.status_code == 400
    assert "not in your team" in response.content.decode()
    assert Account.objects.get(external_id="A-1").owner.username == "csm"  # type: ignore[union-attr]


def test_an_owner_change_is_one_transaction(
    manager: User, book: list[Account], teammate: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = account_services.update_account
    calls = []

    def fail_on_second(**kwargs: Any) -> Account:
        calls.append(kwargs["account"])
        if len(calls) == 2:
            raise account_services.PermissionDenied("no")
        return real(**kwargs)

    monkeypatch.setattr(account_services, "update_account", fail_on_second)
    with pytest.raises(account_services.PermissionDenied):
        account_services.change_owners(user=manager, accounts=book[:2], owner=teammate)
    assert set(Account.objects.values_list("owner__username", flat=True)) == {"csm"}
    assert not AuditEntry.objects.filter(action=AuditEntry.Action.OWNER_CHANGED).exists()


def test_a_csm_cannot_change_owners_through_the_service(csm: User, book: list[Account]) -> None:
    with pytest.raises(account_services.PermissionDenied):
        account_services.change_owners(user=csm, accounts=book, owner=csm)


def export(client: Client, params: dict[str, Any]) -> list[list[str]]:
    response = client.get("/portfolio/export.csv", params)
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]
    return list(csv.reader(io.StringIO(text)))


def test_export_selected_has_just_the_ticked_rows_with_formulas_neutralised(
    csm: User, csm_client: Client, book: list[Account], other_account: Account
) -> None:
    AccountFactory.create(owner=csm, name='=HYPERLINK("x")', external_id="F-1")
    rows = export(csm_client, {"account": ["F-1", "B-1"], "band": "green"})
    assert [r[:2] for r in rows[1:]] == [['\'=HYPERLINK("x")', "F-1"], ["Bravo", "B-1"]]
    # All matching: the view's filters, not the ticks.
    rows = export(csm_client, {"account": ["F-1"], "all": "1", "band": "red"})
    assert [r[0] for r in rows[1:]] == ["Alpha", "Bravo"]
    assert (
        client_for(csm)
        .get("/portfolio/export.csv", {"account": [other_account.external_id]})
        .status_code
        == 404
    )


def test_all_matching_with_an_owner_filter_keeps_it_apart_from_the_new_owner(
    manager_client: Client, book: list[Account], teammate: User, teammate_account: Account
) -> None:
    response = manager_client.post(
        "/portfolio/bulk/owner/",
        {"all": "1", "owner": "teammate", "bulk-owner": str(book[0].owner_id), "confirm": "yes"},
    )
    assert response.status_code == 302
    assert messages_of(response) == [
        f"Change owner: 1 account moved to {book[0].owner.display_name}."  # type: ignore[union-attr]
    ]
    teammate_account.refresh_from_db()
    assert teammate_account.owner == book[0].owner


def test_nul_characters_never_reach_the_database(csm: User, csm_client: Client) -> None:
    assert csm_client.get("/portfolio/bulk/tasks/", {"account": "A\x00"}).status_code == 404
    assert csm_client.get("/portfolio/export.csv", {"account": "A\x00"}).status_code == 404
    saved = csm_client.post("/portfolio/views/", {"name": "N", "query": "q=a\x00b&band=red"})
    assert saved.status_code == 302
    assert csm.saved_views.get().query == "band=red"


def test_more_than_the_bulk_limit_is_refused_with_what_to_do(
    csm: User, csm_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    too_many = [f"X-{i}" for i in range(1001)]
    with pytest.raises(ValidationFailed, match="at most 1,000 accounts; narrow the filters"):
        bulk_selection(csm, external_ids=too_many)
    # Through a page (Django refuses more than 1 000 fields first): back to the portfolio.
    monkeypatch.setattr(portfolio_selectors, "BULK_MAX", 2)
    three = {"account": ["X-1", "X-2", "X-3"], "band": "red"}
    for url in ("/portfolio/bulk/tasks/", "/portfolio/export.csv"):
        response = csm_client.get(url, three)
        assert response.status_code == 302 and response["Location"] == "/portfolio/?band=red"
        assert messages_of(response)[-1] == (
            "A bulk action handles at most 2 accounts; narrow the filters."
        )
