"""Pages: role scoping for every page (csm owner, other csm → 404, manager, admin), HTMX
fragments, bad input, query counts."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import Account, Activity, User
from playbooks.models import (
    Milestone,
    Notification,
    Objective,
    Playbook,
    PlaybookRun,
    SuccessPlan,
    SuccessPlanTemplate,
    Task,
    TemplateMilestone,
    TemplateObjective,
)
from tests.factories import (
    AccountFactory,
    MetricFactory,
    PlaybookFactory,
    TaskFactory,
    metric_value,
    record_score,
)

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()
HX = {"HX-Request": "true"}


@pytest.fixture
def task(account: Account, csm: User) -> Task:
    return TaskFactory.create(
        account=account, assignee=csm, title="Call Acme", due_date=TODAY - dt.timedelta(days=1)
    )


# --- task queue ---------------------------------------------------------------------------


def test_csm_queue_groups_their_tasks_with_counts(
    csm_client: Client,
    csm: User,
    account: Account,
    teammate_account: Account,
    django_assert_max_num_queries: object,
) -> None:
    TaskFactory.create(
        account=account, assignee=csm, title="Overdue one", due_date=TODAY - dt.timedelta(days=2)
    )
    TaskFactory.create(account=account, assignee=csm, title="Today one", due_date=TODAY)
    TaskFactory.create(
        account=account, assignee=csm, title="Later one", due_date=TODAY + dt.timedelta(days=30)
    )
    TaskFactory.create(account=teammate_account, title="Not mine")
    with django_assert_max_num_queries(12):  # type: ignore[operator]
        response = csm_client.get("/tasks/")
    assert response.status_code == 200
    groups = {g.key: [t.title for t in g.tasks] for g in response.context["queue"]["groups"]}
    assert groups["overdue"] == ["Overdue one"]
    assert groups["today"] == ["Today one"]
    assert groups["later"] == ["Later one"]
    html = response.content.decode()
    assert "Not mine" not in html and "Load by CSM" not in html


def test_queue_rows_escape_what_people_typed(csm_client: Client, csm: User) -> None:
    account = AccountFactory.create(owner=csm, name='Acme "R&D" <b>')
    TaskFactory.create(account=account, assignee=csm, title="<script>alert(1)</script>")
    html = csm_client.get("/tasks/").content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert" not in html
    assert "Acme &quot;R&amp;D&quot; &lt;b&gt;" in html


def test_queue_filters_and_htmx_fragment(csm_client: Client, csm: User, account: Account) -> None:
    TaskFactory.create(account=account, assignee=csm, title="Send deck")
    TaskFactory.create(account=account, assignee=csm, title="Call CFO")
    response = csm_client.get("/tasks/?q=deck", headers=HX)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert "Send deck" in html and "Call CFO" not in html


def test_manager_sees_team_queue_with_load_and_not_other_teams(
    manager_client: Client,
    csm: User,
    account: Account,
    teammate_account: Account,
    other_account: Account,
    django_assert_max_num_queries: object,
) -> None:
    TaskFactory.create(account=account, title="Team task A", due_date=TODAY - dt.timedelta(days=3))
    TaskFactory.create(account=teammate_account, title="Team task B")
    TaskFactory.create(account=other_account, title="Other team task")
    with django_assert_max_num_queries(14):  # type: ignore[operator]
        response = manager_client.get("/tasks/")
    html = response.content.decode()
    assert "Team task A" in html and "Team task B" in html and "Other team task" not in html
    load = {row.user.username: row for row in response.context["load"]}
    assert set(load) == {"csm", "teammate"}
    assert load["csm"].open == 1 and load["csm"].overdue == 1 and load["csm"].book_size == 1


def test_team_queue_filters_by_a_person_chosen_by_name(
    manager_client: Client, csm: User, account: Account, teammate_account: Account
) -> None:
    TaskFactory.create(account=account, title="Team task A")
    TaskFactory.create(account=teammate_account, title="Team task B")
    html = manager_client.get("/tasks/?scope=team").content.decode()
    assert f'<option value="csm">{csm.display_name}</option>' in html
    assert "Assignee (username)" not in html
    html = manager_client.get("/tasks/?scope=team&assignee=csm").content.decode()
    assert f'<option value="csm" selected>{csm.display_name}</option>' in html
    assert "Team task A" in html and "Team task B" not in html


def test_admin_sees_every_task(
    admin_client: Client, account: Account, other_account: Account
) -> None:
    TaskFactory.create(account=account, title="A")
    TaskFactory.create(account=other_account, title="B")
    html = admin_client.get("/tasks/?scope=team").content.decode()
    assert "A" in html and "B" in html


def test_queue_lists_overdue_milestones(csm_client: Client, csm: User, account: Account) -> None:
    plan = SuccessPlan.objects.create(
        account=account, title="Onboarding", created_at=timezone.now()
    )
    Milestone.objects.create(
        plan=plan, title="Kick-off done", due_date=TODAY - dt.timedelta(days=3)
    )
    Milestone.objects.create(plan=plan, title="Future one", due_date=TODAY + dt.timedelta(days=3))
    html = csm_client.get("/tasks/").content.decode()
    assert "Kick-off done" in html and "Future one" not in html


# --- inline actions -----------------------------------------------------------------------


def test_complete_inline_through_htmx_returns_the_row(
    csm_client: Client, task: Task, account: Account
) -> None:
    response = csm_client.post(
        f"/tasks/{task.pk}/complete/", {"outcome_note": "Spoke to the COO"}, headers=HX
    )
    assert response.status_code == 200
    assert f'id="task-{task.pk}"' in response.content.decode()
    task.refresh_from_db()
    assert task.status == "done"
    assert Activity.objects.filter(
        account=account, kind="task_completed", summary__contains="Spoke to the COO"
    ).exists()


def test_complete_without_note_is_refused_with_a_message(csm_client: Client, task: Task) -> None:
    response = csm_client.post(f"/tasks/{task.pk}/complete/", {"outcome_note": ""}, headers=HX)
    assert response.status_code == 200  # htmx swaps only 2xx: the row shows why
    assert 'role="alert"' in response.content.decode()
    assert "Outcome note" in response.content.decode()
    task.refresh_from_db()
    assert task.status == "open"


def test_snooze_without_javascript_redirects_back_with_a_message(
    csm_client: Client, task: Task
) -> None:
    until = (TODAY + dt.timedelta(days=5)).isoformat()
    response = csm_client.post(
        f"/tasks/{task.pk}/snooze/",
        {"until": until, "reason": "On holiday", "next": "/tasks/"},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == "/tasks/"
    assert "Snoozed" in response.content.decode()
    task.refresh_from_db()
    assert task.status == "snoozed" and task.snooze_reason == "On holiday"


def test_other_csm_gets_404_on_every_task_page_and_action(
    other_csm_client: Client, task: Task
) -> None:
    assert other_csm_client.get(f"/tasks/{task.pk}/").status_code == 404
    for action in ("complete", "snooze", "cancel", "reopen", "reassign"):
        assert (
            other_csm_client.post(f"/tasks/{task.pk}/{action}/", {"outcome_note": "x"}).status_code
            == 404
        )
    task.refresh_from_db()
    assert task.status == "open"


def test_task_detail_for_owner_manager_and_admin(
    csm_client: Client, manager_client: Client, admin_client: Client, task: Task
) -> None:
    for client in (csm_client, manager_client, admin_client):
        response = client.get(f"/tasks/{task.pk}/")
        assert response.status_code == 200 and "History" in response.content.decode()


def test_manager_reassigns_inline_csm_cannot(
    manager_client: Client, csm_client: Client, task: Task, teammate: User
) -> None:
    response = csm_client.post(f"/tasks/{task.pk}/reassign/", {"assignee": teammate.pk}, headers=HX)
    assert "row-flash-error" in response.content.decode()
    task.refresh_from_db()
    assert task.assignee != teammate
    response = manager_client.post(
        f"/tasks/{task.pk}/reassign/", {"assignee": teammate.pk}, headers=HX
    )
    assert response.status_code == 200
    task.refresh_from_db()
    assert task.assignee == teammate


# --- bulk outreach --------------------------------------------------------------------------


def test_outreach_preview_then_create(manager_client: Client, csm: User, teammate: User) -> None:
    AccountFactory.create(owner=csm, red=True, name="Red One")
    AccountFactory.create(owner=teammate, green=True, name="Green One")
    form = {"band": "red", "title": "Call {account_name}", "due_in_days": 2, "priority": "high"}
    response = manager_client.post("/tasks/outreach/", {**form, "action": "preview"}, headers=HX)
    html = response.content.decode()
    assert "1 task would be created" in html and "Call Red One" in html
    assert not Task.objects.exists()
    response = manager_client.post("/tasks/outreach/", {**form, "action": "create"})
    assert response.status_code == 302
    assert list(Task.objects.values_list("title", "assignee__username", "priority")) == [
        ("Call Red One", "csm", "high")
    ]


def test_outreach_bad_template_is_a_field_error(manager_client: Client) -> None:
    response = manager_client.post(
        "/tasks/outreach/",
        {"title": "Hi {nope}", "due_in_days": 1, "priority": "normal", "action": "preview"},
    )
    assert response.status_code == 200 and "Unknown placeholder" in response.content.decode()


def test_outreach_preview_shows_template_errors_in_the_preview(manager_client: Client) -> None:
    form = {"title": "Hi {account_name}", "due_in_days": 1, "priority": "normal"}
    response = manager_client.post(
        "/tasks/outreach/",
        {**form, "description": "Renews {renewal_dat}", "action": "preview"},
        headers=HX,
    )
    html = response.content.decode()
    assert 'id="preview"' in html and "<html" not in html
    assert "its template has a problem" in html
    assert "Description: Unknown placeholder(s) {renewal_dat}" in html
    response = manager_client.post(
        "/tasks/outreach/", {**form, "description": "Renews {renewal_dat}", "action": "create"}
    )
    assert response.status_code == 200 and not Task.objects.exists()


def test_outreach_segment_is_a_choice_of_existing_segments(
    manager_client: Client, csm: User
) -> None:
    AccountFactory.create(owner=csm, red=True, segment="SMB", name="Small Co")
    page = manager_client.get("/tasks/outreach/").content.decode()
    assert '<option value="SMB">SMB</option>' in page
    form = {"title": "Hi", "due_in_days": 1, "priority": "normal", "action": "preview"}
    response = manager_client.post("/tasks/outreach/", {**form, "segment": "Nope"})
    assert "Select a valid choice" in response.content.decode()
    response = manager_client.post("/tasks/outreach/", {**form, "segment": "SMB"}, headers=HX)
    assert "Small Co" in response.content.decode()


def test_outreach_is_not_for_csms(csm_client: Client) -> None:
    assert csm_client.get("/tasks/outreach/").status_code == 404


# --- playbooks pages ------------------------------------------------------------------------


def test_playbook_pages_by_role(
    csm_client: Client,
    manager_client: Client,
    admin_client: Client,
    account: Account,
    django_assert_max_num_queries: object,
) -> None:
    playbook = PlaybookFactory.create(name="Fell into red")
    Account.objects.filter(pk=account.pk).update(health_band="red")
    for url in ("/playbooks/", f"/playbooks/{playbook.pk}/", f"/playbooks/{playbook.pk}/preview/"):
        assert csm_client.get(url).status_code == 404
        assert manager_client.get(url).status_code == 200
        with django_assert_max_num_queries(16):  # type: ignore[operator]
            assert admin_client.get(url).status_code == 200
    assert manager_client.get(f"/playbooks/{playbook.pk}/edit/").status_code == 404
    assert manager_client.post(f"/playbooks/{playbook.pk}/toggle/").status_code == 404
    assert manager_client.post(f"/playbooks/{playbook.pk}/run/").status_code == 404
    assert admin_client.get(f"/playbooks/{playbook.pk}/edit/").status_code == 200


def test_preview_page_says_who_gets_what_and_creates_nothing(
    admin_client: Client, account: Account
) -> None:
    playbook = PlaybookFactory.create(name="Fell into red", enabled=False)
    Account.objects.filter(pk=account.pk).update(health_band="red")
    html = admin_client.get(f"/playbooks/{playbook.pk}/preview/").content.decode()
    assert "would fire for <strong>1</strong> account" in html
    assert "Call Acme Corp: now red" in html
    assert not Task.objects.exists() and not PlaybookRun.objects.exists()


def editor_data(**overrides: object) -> dict[str, object]:
    """What the playbook editor posts for a new playbook with one task action."""
    return {
        "name": "Detractors",
        "cooldown_days": 7,
        "trigger_type": "negative_feedback",
        "actions-TOTAL_FORMS": 1,
        "actions-INITIAL_FORMS": 0,
        "actions-MIN_NUM_FORMS": 1,
        "actions-MAX_NUM_FORMS": 1000,
        "actions-0-kind": "create_task",
        "actions-0-title_template": "Follow up with {account_name}: {feedback}",
        "actions-0-due_in_days": 1,
        "actions-0-priority": "high",
        "actions-0-assignee_rule": "owner",
        **overrides,
    }


def test_admin_creates_a_playbook_through_the_form(admin_client: Client, csm: User) -> None:
    AccountFactory.create(owner=csm, segment="SMB")
    AccountFactory.create(owner=csm, segment="Enterprise")
    data = editor_data(segments=["SMB", "Enterprise"], lifecycle_stages=["adoption"])
    response = admin_client.post("/playbooks/new/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    playbook = Playbook.objects.get(name="Detractors")
    assert sorted(playbook.segments) == ["Enterprise", "SMB"]
    assert playbook.lifecycle_stages == ["adoption"]
    assert playbook.actions.get().title_template.startswith("Follow up")


def test_playbook_segments_are_chosen_from_the_accounts_segments(
    admin_client: Client, csm: User
) -> None:
    AccountFactory.create(owner=csm, segment="SMB")
    page = admin_client.get("/playbooks/new/").content.decode()
    assert 'name="segments" value="SMB"' in page
    response = admin_client.post("/playbooks/new/", editor_data(segments=["Smb typo"]))
    assert response.status_code == 200
    assert "Select a valid choice. Smb typo is not one of the available choices." in (
        response.content.decode()
    )
    assert not Playbook.objects.exists()


@pytest.mark.parametrize(
    ("trigger", "shown", "hidden"),
    [
        ("band_entered", ["band"], ["drop_points", "metric", "days", "bands"]),
        ("score_drop", ["drop_points", "drop_days"], ["band", "metric", "days"]),
        (
            "metric_threshold",
            ["metric", "metric_aggregation", "metric_window_days", "threshold"],
            ["band", "drop_points", "days"],
        ),
        ("renewal_window", ["days", "bands"], ["band", "metric", "drop_days"]),
        ("no_activity", ["days"], ["band", "bands", "metric"]),
    ],
)
def test_editor_shows_only_the_chosen_triggers_fields(
    admin_client: Client, trigger: str, shown: list[str], hidden: list[str]
) -> None:
    response = admin_client.post(
        "/playbooks/new/",
        editor_data(trigger_type=trigger, _refresh="trigger"),
        headers=HX,
    )
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert 'id="trigger-fields"' in html and 'hx-swap-oob="true"' in html
    for name in shown:
        assert f'name="{name}"' in html, name
    for name in hidden:
        assert f'name="{name}"' not in html, name
    assert not Playbook.objects.exists()


def test_editor_without_javascript_refreshes_the_trigger_fields_by_submitting(
    admin_client: Client,
) -> None:
    page = admin_client.get("/playbooks/new/").content.decode()
    assert 'name="_refresh" value="trigger"' in page  # the no-script button
    assert 'name="band"' in page and 'name="drop_points"' not in page
    assert "---------" not in page and "Arr min" not in page and "position" not in page
    assert "Minimum ARR" in page and "Choose a band" in page
    response = admin_client.post(
        "/playbooks/new/", editor_data(trigger_type="score_drop", name="", _refresh="trigger")
    )
    html = response.content.decode()
    assert response.status_code == 200 and "<html" in html
    assert 'name="drop_points"' in html and 'name="band"' not in html
    assert "field-error" not in html  # a refresh is not a save: no errors yet
    assert not Playbook.objects.exists()


def test_editor_preview_fills_the_templates_with_a_matching_account(
    admin_client: Client, account: Account
) -> None:
    Account.objects.filter(pk=account.pk).update(health_band="red", health_score=31.25)
    data = editor_data(
        trigger_type="band_entered",
        band="red",
        **{
            "actions-0-title_template": "Call {account_name}: now {band}",
            "actions-0-description_template": "Score {score}, ARR {arr}",
        },
        _refresh="preview",
    )
    response = admin_client.post("/playbooks/new/", data, headers=HX)
    html = response.content.decode()
    assert 'id="action-preview"' in html and "<html" not in html
    assert "Acme Corp</a>, which it would fire for now: Band is red." in html
    assert "“Call Acme Corp: now red”" in html
    assert "Score 31.2, ARR $" in html
    assert not Playbook.objects.exists()


def test_editor_preview_names_template_errors_before_saving(
    admin_client: Client, account: Account
) -> None:
    data = editor_data(**{"actions-0-description_template": "Hi {acount_name"}, _refresh="preview")
    html = admin_client.post("/playbooks/new/", data, headers=HX).content.decode()
    assert 'role="alert"' in html and "Description: Broken placeholder" in html
    data = editor_data(**{"actions-0-title_template": "Hi {acount_name}"}, _refresh="preview")
    html = admin_client.post("/playbooks/new/", data, headers=HX).content.decode()
    assert "Task or message title: Unknown placeholder(s) {acount_name}" in html
    assert not Playbook.objects.exists()


def test_editor_page_shows_the_preview_of_a_saved_playbook(
    admin_client: Client, account: Account, django_assert_max_num_queries: object
) -> None:
    playbook = PlaybookFactory.create(name="Fell into red")
    Account.objects.filter(pk=account.pk).update(health_band="red")
    with django_assert_max_num_queries(25):  # type: ignore[operator]
        html = admin_client.get(f"/playbooks/{playbook.pk}/edit/").content.decode()
    assert "“Call Acme Corp: now red”" in html


def test_a_new_action_runs_after_the_existing_ones(admin_client: Client) -> None:
    playbook = PlaybookFactory.create(name="Fell into red")
    first = playbook.actions.get()
    data = editor_data(
        name=playbook.name,
        trigger_type="band_entered",
        band="red",
        **{
            "actions-TOTAL_FORMS": 2,
            "actions-INITIAL_FORMS": 1,
            "actions-0-id": first.pk,
            "actions-0-title_template": first.title_template,
            "actions-0-description_template": first.description_template,
            "actions-0-due_in_days": first.due_in_days,
            "actions-0-priority": first.priority,
            "actions-1-kind": "notify",
            "actions-1-title_template": "{account_name} is red",
            "actions-1-due_in_days": 0,
            "actions-1-priority": "normal",
            "actions-1-assignee_rule": "owner_manager",
        },
    )
    response = admin_client.post(f"/playbooks/{playbook.pk}/edit/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert [a.kind for a in playbook.actions.order_by("position", "id")] == [
        "create_task",
        "notify",
    ]


def test_playbook_form_names_the_missing_trigger_field(admin_client: Client) -> None:
    response = admin_client.post("/playbooks/new/", editor_data(trigger_type="score_drop"))
    assert response.status_code == 200
    assert "Give the drop in points" in response.content.decode()


def test_effectiveness_separates_tasks_closed_by_themselves_from_completed_ones(
    admin_client: Client, csm: User
) -> None:
    playbook = PlaybookFactory.create()
    long_ago = timezone.now() - dt.timedelta(days=100)
    cases = [
        ("done", True),
        ("done", False),
        ("resolved", True),
        ("resolved", True),
        ("cancelled", False),
    ]
    for i, (status, improves) in enumerate(cases):
        acc = AccountFactory.create(owner=csm, external_id=f"EFF-{i}")
        run = PlaybookRun.objects.create(
            playbook=playbook,
            account=acc,
            fired_at=long_ago,
            source="score_change",
            trigger_type="band_entered",
            reason="r",
            band_at_firing="red",
        )
        TaskFactory.create(account=acc, playbook=playbook, run=run, status=status)
        if improves:
            record_score(acc, 55, "yellow", long_ago + dt.timedelta(days=20))
    response = admin_client.get(f"/playbooks/{playbook.pk}/")
    html = response.content.decode()
    assert [
        (r.days, *((s.eligible, s.improved) for s in r.shares)) for r in response.context["effect"]
    ] == [(days, (2, 1), (2, 2), (1, 0)) for days in (30, 60, 90)]
    assert "Closed by itself" in html
    assert "50% <span" in html and "100% <span" in html and "0% <span" in html


# --- account fragments ----------------------------------------------------------------------


def test_account_tasks_fragment_and_create(
    csm_client: Client, account: Account, task: Task
) -> None:
    response = csm_client.get(f"/accounts/{account.external_id}/tasks/", headers=HX)
    assert response.status_code == 200 and "Call Acme" in response.content.decode()
    response = csm_client.post(
        f"/accounts/{account.external_id}/tasks/",
        {"task-title": "Plan QBR", "task-priority": "normal"},
        headers=HX,
    )
    assert "Plan QBR" in response.content.decode()
    assert Task.objects.filter(title="Plan QBR", account=account).exists()


def test_account_fragments_are_404_for_other_csm_and_ok_for_manager_and_admin(
    other_csm_client: Client, manager_client: Client, admin_client: Client, account: Account
) -> None:
    for url in (
        f"/accounts/{account.external_id}/tasks/",
        f"/accounts/{account.external_id}/success-plan/",
    ):
        assert other_csm_client.get(url, headers=HX).status_code == 404
        assert (
            other_csm_client.post(url, {"op": "create_plan", "plan-title": "x"}).status_code == 404
        )
        assert manager_client.get(url, headers=HX).status_code == 200
        assert admin_client.get(url, headers=HX).status_code == 200


def test_success_plan_from_template_with_metric_progress(
    csm_client: Client, account: Account, django_assert_max_num_queries: object
) -> None:
    seats = MetricFactory.create(key="active_seats")
    metric_value(account, seats, 20, timezone.now() - dt.timedelta(days=2))
    template = SuccessPlanTemplate.objects.create(name="Onboarding")
    TemplateObjective.objects.create(
        template=template, title="50 active seats", metric=seats, target=50
    )
    TemplateMilestone.objects.create(template=template, title="Kick-off", due_in_days=7)
    url = f"/accounts/{account.external_id}/success-plan/"
    response = csm_client.post(url, {"op": "create_plan", "plan-template": template.pk}, headers=HX)
    assert response.status_code == 200
    objective = Objective.objects.get()
    assert objective.baseline == 20
    metric_value(account, seats, 35, timezone.now())
    with django_assert_max_num_queries(10):  # type: ignore[operator]
        response = csm_client.get(url, headers=HX)
    [(plan, [view])] = response.context["plans"]
    assert view.progress == 50  # 20 → 35 of 20 → 50
    assert '<progress class="progress" max="100" value="50"' in response.content.decode()


def test_success_plan_inline_edits_and_bad_input(csm_client: Client, account: Account) -> None:
    url = f"/accounts/{account.external_id}/success-plan/"
    csm_client.post(url, {"op": "create_plan", "plan-title": "Expansion"}, headers=HX)
    plan = SuccessPlan.objects.get()
    response = csm_client.post(
        url, {"op": "add_milestone", "plan": plan.pk, "milestone-title": "Exec sponsor"}, headers=HX
    )
    assert "Due: This field is required." in response.content.decode()
    csm_client.post(
        url,
        {
            "op": "add_milestone",
            "plan": plan.pk,
            "milestone-title": "Exec sponsor",
            "milestone-due_date": "2030-01-01",
        },
        headers=HX,
    )
    milestone = Milestone.objects.get()
    csm_client.post(
        url, {"op": "milestone_status", "milestone": milestone.pk, "status": "done"}, headers=HX
    )
    milestone.refresh_from_db()
    assert milestone.status == "done"
    csm_client.post(
        url,
        {"op": "add_objective", "plan": plan.pk, "objective-title": "Adopt reports"},
        headers=HX,
    )
    objective = Objective.objects.get()
    csm_client.post(
        url, {"op": "objective_progress", "objective": objective.pk, "progress": 40}, headers=HX
    )
    objective.refresh_from_db()
    assert objective.manual_progress == 40
    response = csm_client.post(
        url, {"op": "objective_progress", "objective": objective.pk, "progress": 400}, headers=HX
    )
    assert "Progress %" in response.content.decode()
    # Without JavaScript: redirect back to the plan page.
    response = csm_client.post(url, {"op": "create_plan", "plan-title": "Renewal"})
    assert response.status_code == 302


# --- notifications --------------------------------------------------------------------------


def test_notifications_page_and_unread_count_in_nav(
    csm_client: Client, csm: User, other_csm: User
) -> None:
    Notification.objects.create(recipient=csm, title="Mine", created_at=timezone.now())
    Notification.objects.create(recipient=other_csm, title="Not mine", created_at=timezone.now())
    html = csm_client.get("/tasks/").content.decode()
    assert 'aria-label="1 unread"' in html
    html = csm_client.get("/notifications/").content.decode()
    assert "Mine" in html and "Not mine" not in html
    csm_client.post("/notifications/")
    assert not Notification.objects.filter(recipient=csm, read_at__isnull=True).exists()
    assert Notification.objects.filter(recipient=other_csm, read_at__isnull=True).exists()


@pytest.mark.parametrize(
    ("url", "limit"),
    [
        ("/tasks/{task}/", 12),
        ("/tasks/outreach/", 10),
        ("/playbooks/new/", 14),
        ("/playbooks/{playbook}/edit/", 17),  # +1: the send-survey action's choices
        ("/accounts/ACME-1/tasks/", 10),
        ("/accounts/ACME-1/success-plan/", 12),
        ("/notifications/", 8),
    ],
)
def test_every_other_page_has_a_query_budget(
    admin_client: Client,
    task: Task,
    url: str,
    limit: int,
    django_assert_max_num_queries: object,
) -> None:
    playbook = PlaybookFactory.create()
    for _ in range(5):  # more rows must not mean more queries
        TaskFactory.create(account=task.account)
        Notification.objects.create(
            recipient=User.objects.get(username="admin"), title="n", created_at=timezone.now()
        )
    with django_assert_max_num_queries(limit):  # type: ignore[operator]
        response = admin_client.get(url.format(task=task.pk, playbook=playbook.pk))
    assert response.status_code == 200
