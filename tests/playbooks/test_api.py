"""GET|POST /api/v1/tasks/ and GET|PATCH /api/v1/tasks/{id}/: filters, role scoping,
transitions and clear 400s."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import Account, Activity, User
from playbooks.models import Task
from tests.factories import PlaybookFactory, TaskFactory

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()


def fields(response: object) -> set[str]:
    """The fields named in the API-wide error shape {"error", "details": [{"field", "reason"}]}."""
    assert response.status_code == 400, response.content  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert body["error"]
    return {d.get("field", "") for d in body["details"]}


def titles(response: object) -> set[str]:
    assert response.status_code == 200, response.content  # type: ignore[attr-defined]
    return {t["title"] for t in response.json()["results"]}  # type: ignore[attr-defined]


@pytest.fixture
def tasks(
    account: Account, teammate_account: Account, other_account: Account, csm: User, teammate: User
) -> dict[str, Task]:
    playbook = PlaybookFactory.create(task=False)
    return {
        "mine": TaskFactory.create(
            account=account, assignee=csm, title="mine", due_date=TODAY, playbook=playbook
        ),
        "mine_later": TaskFactory.create(
            account=account,
            assignee=csm,
            title="mine later",
            due_date=TODAY + dt.timedelta(days=30),
        ),
        "teammate": TaskFactory.create(
            account=teammate_account, assignee=teammate, title="teammate"
        ),
        "other": TaskFactory.create(account=other_account, title="other team"),
    }


def test_csm_lists_only_their_own_and_their_books_tasks(
    csm_client: Client, tasks: dict[str, Task]
) -> None:
    assert titles(csm_client.get("/api/v1/tasks/")) == {"mine", "mine later"}


def test_manager_lists_the_teams_tasks(manager_client: Client, tasks: dict[str, Task]) -> None:
    assert titles(manager_client.get("/api/v1/tasks/")) == {"mine", "mine later", "teammate"}


def test_admin_lists_all(admin_client: Client, tasks: dict[str, Task]) -> None:
    assert len(titles(admin_client.get("/api/v1/tasks/"))) == 4


def test_filters(manager_client: Client, tasks: dict[str, Task]) -> None:
    assert titles(manager_client.get("/api/v1/tasks/?assignee=teammate")) == {"teammate"}
    assert titles(manager_client.get("/api/v1/tasks/?account=ACME-1")) == {"mine", "mine later"}
    assert titles(
        manager_client.get(f"/api/v1/tasks/?due_before={TODAY + dt.timedelta(days=5)}")
    ) >= {"mine"}
    assert "mine later" not in titles(
        manager_client.get(f"/api/v1/tasks/?due_before={TODAY + dt.timedelta(days=5)}")
    )
    assert titles(manager_client.get(f"/api/v1/tasks/?playbook={tasks['mine'].playbook_id}")) == {
        "mine"
    }
    assert titles(manager_client.get("/api/v1/tasks/?status=done")) == set()
    assert manager_client.get("/api/v1/tasks/?status=nope").status_code == 400


def test_other_csm_gets_404_for_a_task_outside_their_scope(
    other_csm_client: Client, tasks: dict[str, Task]
) -> None:
    url = f"/api/v1/tasks/{tasks['mine'].pk}/"
    assert other_csm_client.get(url).status_code == 404
    assert (
        other_csm_client.patch(
            url, {"status": "cancelled"}, content_type="application/json"
        ).status_code
        == 404
    )


def test_post_creates_a_task_for_the_owner_by_default(csm_client: Client, account: Account) -> None:
    response = csm_client.post(
        "/api/v1/tasks/",
        {"account": "ACME-1", "title": "Prepare QBR", "due_date": str(TODAY)},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["assignee"] == "csm" and body["account"] == "ACME-1" and body["status"] == "open"


def test_post_outside_scope_or_bad_input_is_a_clear_400(
    csm_client: Client, other_account: Account, account: Account, teammate: User
) -> None:
    response = csm_client.post(
        "/api/v1/tasks/", {"account": "OTHER-1", "title": "x"}, content_type="application/json"
    )
    assert response.status_code == 409  # names an account the caller cannot use
    assert [d["field"] for d in response.json()["details"]] == ["account"]
    response = csm_client.post(
        "/api/v1/tasks/", {"account": "ACME-1", "priority": "huge"}, content_type="application/json"
    )
    assert fields(response) == {"title", "priority"}
    response = csm_client.post(
        "/api/v1/tasks/",
        {"account": "ACME-1", "title": "x", "assignee": "teammate"},
        content_type="application/json",
    )
    assert response.status_code == 409
    assert response.json()["details"] == [
        {"field": "assignee", "reason": "'teammate' cannot be given this task"}
    ]


def test_patch_completes_with_an_outcome_note(
    csm_client: Client, tasks: dict[str, Task], account: Account
) -> None:
    url = f"/api/v1/tasks/{tasks['mine'].pk}/"
    response = csm_client.patch(url, {"status": "done"}, content_type="application/json")
    assert "outcome_note" in fields(response)
    response = csm_client.patch(
        url, {"status": "done", "outcome_note": "Renewed"}, content_type="application/json"
    )
    assert response.status_code == 200 and response.json()["status"] == "done"
    assert Activity.objects.filter(account=account, kind="task_completed").exists()
    response = csm_client.patch(url, {"status": "open"}, content_type="application/json")
    assert response.status_code == 409 and "cannot become open" in str(response.json())


def test_patch_snooze_and_edit(csm_client: Client, tasks: dict[str, Task]) -> None:
    url = f"/api/v1/tasks/{tasks['mine'].pk}/"
    until = str(TODAY + dt.timedelta(days=3))
    response = csm_client.patch(
        url,
        {
            "status": "snoozed",
            "snoozed_until": until,
            "snooze_reason": "Board meeting",
            "priority": "high",
        },
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["snoozed_until"] == until and response.json()["priority"] == "high"


def test_patch_reassign_is_for_managers(
    csm_client: Client, manager_client: Client, tasks: dict[str, Task]
) -> None:
    url = f"/api/v1/tasks/{tasks['mine'].pk}/"
    response = csm_client.patch(url, {"assignee": "teammate"}, content_type="application/json")
    assert response.status_code == 409  # a person the caller may not give work to
    response = manager_client.patch(url, {"assignee": "teammate"}, content_type="application/json")
    assert response.status_code == 200 and response.json()["assignee"] == "teammate"
    response = manager_client.patch(url, {"assignee": "other_csm"}, content_type="application/json")
    assert response.status_code == 409


def test_a_failed_patch_changes_nothing(manager_client: Client, tasks: dict[str, Task]) -> None:
    task = tasks["mine"]
    response = manager_client.patch(
        f"/api/v1/tasks/{task.pk}/",
        {"title": "Renamed", "status": "done"},
        content_type="application/json",
    )
    assert response.status_code == 400
    task.refresh_from_db()
    assert task.title == "mine" and task.status == "open"


def test_api_requires_authentication(client: Client) -> None:
    assert client.get("/api/v1/tasks/").status_code in (401, 403)


def test_malformed_filters_are_400_not_500(manager_client: Client, tasks: dict[str, Task]) -> None:
    for query in ("playbook=-6.27e%2B216", "playbook=999999"):  # no such playbook: no tasks
        response = manager_client.get(f"/api/v1/tasks/?{query}")
        assert response.status_code == 200 and response.json()["results"] == [], query
    for query in (
        "playbook=six",
        "due_before=yesterday",
        "status=nope",
    ):
        response = manager_client.get(f"/api/v1/tasks/?{query}")
        assert response.status_code == 400, (query, response.content)
