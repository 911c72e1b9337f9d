"""The account page as a workspace: tabs with real URLs, the timeline's filters and pages,
a call that carries an NPS answer, live updates after actions, contacts edited in the app
and churned accounts shown as churned."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import Account, Activity, Contact, Feedback, LifecycleStage, User
from accounts.selectors.portfolio import PortfolioQuery, portfolio_filtered
from accounts.selectors.team import at_risk_arr_by_quarter
from accounts.selectors.timeline import BadTimelineQuery, timeline_page
from accounts.services.contacts import create_contact, delete_contact, update_contact
from chs_site.errors import ValidationFailed
from scoring.models import MetricValue, ScoreEvent
from scoring.services.feedback import log_feedback
from scoring.services.outcomes import record_outcome
from tests.conftest import client_for
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}


def url(account: Account, suffix: str = "") -> str:
    return f"/accounts/{account.external_id}/{suffix}"


# --- tabs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tab", "marker"),
    [
        ("overview", 'id="health"'),
        ("timeline", 'id="timeline"'),
        ("tasks", 'id="account-tasks"'),
        ("plans", 'id="success-plan"'),
        ("contacts", 'id="contacts"'),
    ],
)
def test_each_tab_is_a_real_url_that_works_without_javascript(
    csm_client: Client, scored_account: Account, tab: str, marker: str
) -> None:
    body = csm_client.get(url(scored_account) + f"?tab={tab}").content.decode()
    assert marker in body
    assert f'id="tab-{tab}" href=' in body
    assert body.count('aria-selected="true"') == 1
    assert 'aria-selected="true" tabindex="0">' in body.split(f'id="tab-{tab}"')[1][:400]
    # Only the chosen tab's content is rendered.
    others = {"overview": 'id="breakdown"', "contacts": 'id="contacts"'}
    for other, other_marker in others.items():
        if other != tab:
            assert other_marker not in body


def test_a_tab_with_htmx_is_the_panel_and_the_head_out_of_band(
    csm_client: Client, scored_account: Account
) -> None:
    body = csm_client.get(url(scored_account) + "?tab=contacts", headers=HX).content.decode()
    assert body.lstrip().startswith('<section id="tab-panel"')
    assert 'id="account-head"' in body and 'hx-swap-oob="true"' in body
    assert "<html" not in body


def test_an_unknown_tab_is_404(csm_client: Client, account: Account) -> None:
    assert csm_client.get(url(account) + "?tab=secrets").status_code == 404


def test_the_action_forms_sit_in_expanders_closed_until_opened(
    csm_client: Client, account: Account
) -> None:
    body = csm_client.get(url(account)).content.decode()
    assert body.count('<details class="action-expander">') >= 3  # feedback, override, outcome
    assert '<details class="action-expander" open>' not in body


def test_overview_query_count(
    csm_client: Client, scored_account: Account, django_assert_max_num_queries: Any
) -> None:
    for i in range(30):
        ContactFactory.create(account=scored_account, name=f"Contact {i}")
    with django_assert_max_num_queries(24):
        assert csm_client.get(url(scored_account)).status_code == 200


@pytest.mark.parametrize("tab", ["timeline", "tasks", "plans", "contacts"])
def test_other_tabs_query_count(
    csm_client: Client, scored_account: Account, tab: str, django_assert_max_num_queries: Any
) -> None:
    for i in range(30):
        ContactFactory.create(account=scored_account, name=f"Contact {i}")
    with django_assert_max_num_queries(14):
        assert csm_client.get(url(scored_account) + f"?tab={tab}").status_code == 200


# --- timeline --------------------------------------------------------------------------


def _activities(account: Account, user: User, n: int) -> None:
    now = timezone.now()
    for i in range(n):
        log_feedback(
            user=user,
            account=account,
            kind="call" if i % 2 else "note",
            text=f"entry {i}",
            occurred_at=now - dt.timedelta(hours=i + 1),
        )


def test_timeline_pages_through_every_entry_once(csm: User, account: Account) -> None:
    _activities(account, csm, 30)
    first = timeline_page(account, size=25)
    assert len(first.entries) == 25 and first.next_cursor
    second = timeline_page(account, before=first.next_cursor, size=25)
    assert len(second.entries) == 5 and not second.next_cursor
    summaries = [e.summary for e in first.entries + second.entries]
    assert len(set(summaries)) == 30
    assert summaries[0].endswith("entry 0") and summaries[-1].endswith("entry 29")


def test_timeline_filters_by_kind(csm: User, account: Account) -> None:
    _activities(account, csm, 6)
    calls = timeline_page(account, kind="calls").entries
    assert [e.summary.split(" — ")[-1] for e in calls] == ["entry 1", "entry 3", "entry 5"]
    notes = timeline_page(account, kind="feedback").entries
    assert all("Note" in e.summary for e in notes) and len(notes) == 3
    assert timeline_page(account, kind="tasks").entries == []


def test_score_moves_fall_on_the_page_whose_time_range_holds_them(
    csm: User, account: Account
) -> None:
    _activities(account, csm, 4)  # 1 to 4 hours ago
    now = timezone.now()
    moves = [
        {
            "occurred_at": now - dt.timedelta(minutes=150),
            "kind": "score",
            "summary": "Score 50 → 60",
        },
        {"occurred_at": now - dt.timedelta(days=3), "kind": "score", "summary": "Score 60 → 70"},
    ]
    first = timeline_page(account, size=3, score_moves=moves)
    assert [e["summary"] for e in first.entries if isinstance(e, dict)] == ["Score 50 → 60"]
    last = timeline_page(account, size=3, before=first.next_cursor, score_moves=moves)
    assert [e["summary"] for e in last.entries if isinstance(e, dict)] == ["Score 60 → 70"]
    assert timeline_page(account, kind="calls", score_moves=moves).entries[0] != moves[0]


@pytest.mark.parametrize(
    ("kind", "before", "message"),
    [
        ("gossip", "", "There is no timeline filter 'gossip'"),
        ("", "yesterday", "The page link 'yesterday' is not one this timeline made"),
        ("", "2026-01-01T00:00:00~x", "is not one this timeline made"),
        ("", "2026-01-01T00:00:00~12", "is not one this timeline made"),  # no time zone
    ],
)
def test_a_bad_filter_or_page_link_says_which(
    csm_client: Client, account: Account, kind: str, before: str, message: str
) -> None:
    with pytest.raises(BadTimelineQuery, match=message.split("'")[0]):
        timeline_page(account, kind=kind, before=before)
    response = csm_client.get(url(account), {"tab": "timeline", "kind": kind, "before": before})
    assert response.status_code == 200
    assert message.replace("'", "&#x27;") in response.content.decode()


def test_timeline_links_keep_the_filter_in_the_url(
    csm: User, csm_client: Client, account: Account
) -> None:
    _activities(account, csm, 30)
    body = csm_client.get(url(account), {"tab": "timeline", "kind": "calls"}).content.decode()
    assert 'aria-current="true">Calls &amp; meetings</a>' in body
    assert body.count("entry ") == 15  # every call, no note
    older = csm_client.get(url(account), {"tab": "timeline"}).content.decode()
    assert "?tab=timeline&amp;before=" in older  # the next page is a real link


def test_timeline_fragment_without_htmx_redirects_to_the_tab(
    csm_client: Client, account: Account
) -> None:
    response = csm_client.get(url(account, "timeline/"), {"kind": "calls"})
    assert response.status_code == 302
    assert response["Location"] == url(account) + "?kind=calls&tab=timeline"


# --- a call with an NPS answer -----------------------------------------------------------


def test_a_call_with_an_nps_answer_is_one_entry_that_also_feeds_the_score(
    csm: User, account: Account
) -> None:
    feedback = log_feedback(
        user=csm, account=account, kind="call", survey="nps", score=3, text="Unhappy with support"
    )
    assert Feedback.objects.count() == 1 and feedback.answer_kind == "nps"
    assert feedback.is_detractor
    (activity,) = Activity.objects.filter(account=account)
    assert activity.summary.startswith("Call logged with NPS 3 by")
    assert MetricValue.objects.get(account=account, metric__key="nps").value == 3.0
    # The detractor playbooks hear about it as they do about a plain NPS answer.
    assert ScoreEvent.objects.filter(account=account).exists()


def test_logging_a_call_with_csat_from_the_page(csm_client: Client, account: Account) -> None:
    response = csm_client.post(
        url(account, "feedback/"),
        {"kind": "meeting", "survey": "csat", "score": "4", "text": "QBR went fine"},
        headers=HX,
    )
    assert response.status_code == 200
    assert "Meeting (CSAT 4) logged for Acme Corp." in response.content.decode()
    assert response["HX-Trigger"] == "account-changed"
    assert MetricValue.objects.get(account=account, metric__key="csat").value == 4.0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"kind": "note", "survey": "nps", "score": "5", "text": "x"}, "Only a call or a meeting"),
        ({"kind": "call", "survey": "csat", "score": "7", "text": "x"}, "CSAT is 1 to 5; 7"),
        ({"kind": "call", "survey": "nps", "text": "x"}, "An NPS answer needs a score"),
        ({"kind": "call", "score": "8", "text": "x"}, "the survey the answer belongs to"),
    ],
)
def test_a_survey_answer_in_a_call_is_checked(
    csm_client: Client, account: Account, data: dict[str, str], message: str
) -> None:
    response = csm_client.post(url(account, "feedback/"), data, headers=HX)
    assert message in response.content.decode()
    assert not Feedback.objects.exists()


def test_the_service_refuses_a_survey_on_a_note(csm: User, account: Account) -> None:
    with pytest.raises(ValidationFailed) as caught:
        log_feedback(user=csm, account=account, kind="email", survey="nps", score=9)
    assert caught.value.errors[0]["field"] == "survey"


# --- live updates ----------------------------------------------------------------------


def test_head_fragment_carries_owner_score_and_counts(
    csm: User, csm_client: Client, account: Account
) -> None:
    ContactFactory.create(account=account, name="Ana")
    body = csm_client.get(url(account) + "?part=head", headers=HX).content.decode()
    assert body.lstrip().startswith('<div id="account-head"')
    assert 'hx-trigger="account-changed from:body, health-updated from:body"' in body
    assert '<span class="tab-count" id="count-contacts">1</span>' in body
    assert f'<strong id="head-owner">{csm.display_name}</strong>' in body


def test_creating_a_task_with_htmx_tells_the_page_to_refresh_its_counts(
    csm_client: Client, account: Account
) -> None:
    response = csm_client.post(
        url(account, "tasks/"),
        {"task-title": "Call the sponsor", "task-priority": "normal"},
        headers=HX,
    )
    assert response.status_code == 200 and response["HX-Trigger"] == "account-changed"
    assert "data-autofocus>Task created." in response.content.decode()
    head = csm_client.get(url(account) + "?part=head", headers=HX).content.decode()
    assert '<span class="tab-count" id="count-tasks">1</span>' in head


# --- contacts --------------------------------------------------------------------------


def test_adding_a_contact_with_htmx_returns_the_list_and_a_timeline_line(
    csm_client: Client, account: Account
) -> None:
    response = csm_client.post(
        url(account, "contacts/"),
        {
            "new-contact-name": "Rosa Diaz",
            "new-contact-title": "VP Operations",
            "new-contact-email": "rosa@acme.test",
            "new-contact-phone": "+41 44 668 18 00",
            "new-contact-is_champion": "on",
        },
        headers=HX,
    )
    body = response.content.decode()
    assert response.status_code == 200 and response["HX-Trigger"] == "account-changed"
    assert body.lstrip().startswith('<section id="contacts"')
    assert "Rosa Diaz added to the contacts." in body and "champion</span>" in body
    contact = Contact.objects.get()
    assert (contact.title, contact.is_champion, contact.is_decision_maker) == (
        "VP Operations",
        True,
        False,
    )
    assert Activity.objects.get(kind="contact").summary == "Contact added: Rosa Diaz (champion)"


def test_adding_a_contact_without_htmx_redirects_to_the_contacts_tab(
    csm_client: Client, account: Account
) -> None:
    response = csm_client.post(url(account, "contacts/"), {"new-contact-name": "Rosa"})
    assert response.status_code == 302
    assert response["Location"] == url(account) + "?tab=contacts"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"new-contact-name": ""}, "This field is required."),
        ({"new-contact-name": "A", "new-contact-email": "not-mail"}, "Enter a valid email"),
        ({"new-contact-name": "A", "new-contact-phone": "call me"}, "is not a phone number"),
        ({"new-contact-name": "A", "new-contact-phone": "12"}, "is not a phone number"),
        ({"new-contact-name": "B", "new-contact-email": "DANA@acme.test"}, "Dana already has"),
    ],
)
@pytest.mark.parametrize("htmx", [False, True])
def test_bad_contacts_are_refused_with_the_field_and_why(
    csm_client: Client, account: Account, data: dict[str, str], message: str, htmx: bool
) -> None:
    ContactFactory.create(account=account, name="Dana", email="dana@acme.test")
    response = csm_client.post(url(account, "contacts/"), data, headers=HX if htmx else {})
    assert response.status_code == (200 if htmx else 400)  # htmx swaps only 2xx answers
    assert message in response.content.decode()
    assert Contact.objects.count() == 1


def test_editing_a_contact_names_what_changed_on_the_timeline(
    csm: User, csm_client: Client, account: Account
) -> None:
    contact = ContactFactory.create(account=account, name="Dana", email="dana@acme.test")
    response = csm_client.post(
        url(account, f"contacts/{contact.pk}/"),
        {
            f"contact-{contact.pk}-name": "Dana",
            f"contact-{contact.pk}-email": "dana@acme.test",
            f"contact-{contact.pk}-phone": "(555) 010-7788 x12",
            f"contact-{contact.pk}-is_decision_maker": "on",
        },
        headers=HX,
    )
    assert response.status_code == 200
    contact.refresh_from_db()
    assert contact.phone == "(555) 010-7788 x12" and contact.is_decision_maker
    line = Activity.objects.get(kind="contact").summary
    assert line == "Contact edited: Dana (decision-maker) — phone, decision-maker"
    # Saving again without a change writes nothing.
    update_contact(user=csm, contact=contact, data={**contact.__dict__})
    assert Activity.objects.filter(kind="contact").count() == 1


def test_removing_a_contact_asks_first(csm_client: Client, account: Account) -> None:
    contact = ContactFactory.create(account=account, name="Dana")
    page = csm_client.get(url(account, f"contacts/{contact.pk}/delete/"))
    assert "Remove Dana from Acme Corp" in page.content.decode()
    refused = csm_client.post(url(account, f"contacts/{contact.pk}/delete/"))
    assert refused.status_code == 400 and Contact.objects.exists()
    done = csm_client.post(url(account, f"contacts/{contact.pk}/delete/"), {"confirm": "yes"})
    assert done.status_code == 302 and not Contact.objects.exists()
    assert Activity.objects.get(kind="contact").summary == "Contact removed: Dana"


@pytest.mark.parametrize("persona", ["teammate", "other_csm"])
@pytest.mark.parametrize("suffix", ["", "delete/"])
def test_contacts_of_accounts_outside_the_book_are_404(
    request: pytest.FixtureRequest, account: Account, persona: str, suffix: str
) -> None:
    contact = ContactFactory.create(account=account, name="Dana")
    client = client_for(request.getfixturevalue(persona))
    assert client.post(url(account, "contacts/"), {"new-contact-name": "X"}).status_code == 404
    post = client.post(url(account, f"contacts/{contact.pk}/{suffix}"), {"confirm": "yes"})
    assert post.status_code == 404
    assert list(Contact.objects.values_list("name", flat=True)) == ["Dana"]


def test_a_contact_of_another_account_is_404_under_this_accounts_url(
    csm_client: Client, account: Account, other_account: Account
) -> None:
    theirs = ContactFactory.create(account=other_account, name="Not yours")
    response = csm_client.post(url(account, f"contacts/{theirs.pk}/delete/"), {"confirm": "yes"})
    assert response.status_code == 404 and Contact.objects.filter(pk=theirs.pk).exists()


def test_contact_services_write_their_timeline_lines(csm: User, account: Account) -> None:
    contact = create_contact(user=csm, account=account, data={"name": "Ana", "is_champion": True})
    delete_contact(user=csm, contact=contact)
    assert list(
        Activity.objects.filter(kind="contact").order_by("id").values_list("summary", flat=True)
    ) == ["Contact added: Ana (champion)", "Contact removed: Ana"]


# --- churned accounts ------------------------------------------------------------------


@pytest.fixture
def churned(csm: User, account: Account) -> Account:
    account.arr = Decimal("120000")
    account.renewal_date = timezone.localdate() + dt.timedelta(days=20)
    account.health_band = "red"
    account.save()
    record_outcome(
        user=csm,
        account=account,
        kind="churned",
        occurred_at=timezone.localdate(),
        arr_change=Decimal("-120000"),
    )
    account.refresh_from_db()
    return account


def test_recording_a_churn_moves_the_account_to_churned(churned: Account) -> None:
    assert churned.lifecycle_stage == LifecycleStage.CHURNED


def test_a_churned_account_shows_as_churned_with_its_arr_lost(
    csm_client: Client, churned: Account
) -> None:
    body = csm_client.get(url(churned)).content.decode()
    assert 'id="churned-banner"' in body and "$120,000 ARR lost" in body
    assert "<dt>Renewal</dt><dd>None: churned on" in body
    assert "in 20 days" not in body


def test_a_live_account_shows_its_renewal_once(csm_client: Client, account: Account) -> None:
    account.renewal_date = timezone.localdate() + dt.timedelta(days=20)
    account.save()
    body = csm_client.get(url(account)).content.decode()
    assert (
        f"{account.renewal_date:%b} {account.renewal_date.day}, {account.renewal_date.year}" in body
    )
    assert "(in 20 days)" in body and 'id="churned-banner"' not in body


def test_churned_accounts_leave_renewals_and_arr_at_risk(
    csm: User, churned: Account, teammate_account: Account
) -> None:
    today = timezone.localdate()
    in_renewals = portfolio_filtered(csm, PortfolioQuery(renewal_within=90))
    assert churned not in in_renewals
    quarters = at_risk_arr_by_quarter(Account.objects.all(), today=today)
    assert sum(q["total_arr"] for q in quarters) == 0
    churned.lifecycle_stage = LifecycleStage.RENEWAL
    churned.save()
    quarters = at_risk_arr_by_quarter(Account.objects.all(), today=today)
    assert sum(q["total_arr"] for q in quarters) == Decimal("120000")


def test_feedback_on_a_call_keeps_the_api_shape(
    csm: User, account: Account, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    from accounts.services.tokens import create_api_token

    key = create_api_token(user=csm, scope="write").key
    response = Client().post(
        "/api/v1/feedback/",
        {"account": account.external_id, "kind": "call", "survey": "nps", "score": 2},
        content_type="application/json",
        headers={"Authorization": f"Token {key}"},
    )
    assert response.status_code == 201, response.content
    assert response.json()["survey"] == "nps"
    bad = Client().post(
        "/api/v1/feedback/",
        {"account": account.external_id, "kind": "email", "survey": "nps", "score": 2},
        content_type="application/json",
        headers={"Authorization": f"Token {key}"},
    )
    assert bad.status_code == 400 and "survey" in bad.content.decode()


def test_a_task_is_marked_done_from_the_tasks_tab_and_the_count_follows(
    csm: User, csm_client: Client, account: Account
) -> None:
    from playbooks.services.tasks import create_task

    task = create_task(actor=csm, account=account, title="Book the QBR")
    body = csm_client.get(url(account) + "?tab=tasks").content.decode()
    assert f'action="/tasks/{task.pk}/complete/"' in body
    response = csm_client.post(
        f"/tasks/{task.pk}/complete/",
        {"outcome_note": "Booked for Monday", "next": url(account) + "?tab=tasks"},
    )
    assert response["Location"] == url(account) + "?tab=tasks"
    page = csm_client.get(response["Location"]).content.decode()
    assert '<span class="tab-count" id="count-tasks">0</span>' in page
    assert "No open tasks on this account." in page


def test_a_success_plan_change_tells_the_page_to_refresh_its_counts(
    csm_client: Client, account: Account
) -> None:
    response = csm_client.post(
        url(account, "success-plan/"),
        {"op": "create_plan", "plan-title": "Recover adoption"},
        headers=HX,
    )
    assert response.status_code == 200
    assert response["HX-Trigger"] == "account-changed"
    head = csm_client.get(url(account) + "?part=head", headers=HX).content.decode()
    assert '<span class="tab-count" id="count-plans">1</span>' in head


def test_the_migration_moves_accounts_whose_newest_outcome_is_a_churn(
    account: Account, teammate_account: Account
) -> None:
    import importlib

    from django.apps import apps

    from scoring.models import Outcome

    today = timezone.localdate()
    Outcome.objects.create(account=account, kind="churned", occurred_at=today)
    Outcome.objects.create(
        account=teammate_account, kind="churned", occurred_at=today - dt.timedelta(days=400)
    )
    Outcome.objects.create(account=teammate_account, kind="renewed", occurred_at=today)
    migration = importlib.import_module("scoring.migrations.0005_churned_accounts_stage")
    migration.churned_stage(apps, None)
    account.refresh_from_db()
    teammate_account.refresh_from_db()
    assert account.lifecycle_stage == LifecycleStage.CHURNED
    assert teammate_account.lifecycle_stage != LifecycleStage.CHURNED
