"""The account page: what it shows, who may see it, and its actions (feedback, override,
owner) with good and bad input, with and without HTMX."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import Account, Activity, Feedback, User
from playbooks.services.tasks import create_task
from scoring.models import DirtyAccount, Scorecard, ScoreOverride
from scoring.services.recompute import recompute_dirty_accounts
from tests.conftest import client_for, record
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}
PERSONAS = [
    ("csm", True),
    ("teammate", False),
    ("other_csm", False),
    ("manager", True),
    ("admin", True),
]


def url(account: Account, suffix: str = "") -> str:
    return f"/accounts/{account.external_id}/{suffix}"


# --- who sees what ---------------------------------------------------------------------


@pytest.mark.parametrize(("persona", "allowed"), PERSONAS)
@pytest.mark.parametrize(
    ("suffix", "headers"),
    [
        ("", {}),
        ("health/", HX),
        ("timeline/", HX),
    ],
)
def test_every_account_view_is_404_outside_the_users_scope(
    request: pytest.FixtureRequest,
    scored_account: Account,
    persona: str,
    allowed: bool,
    suffix: str,
    headers: dict[str, str],
) -> None:
    response = client_for(request.getfixturevalue(persona)).get(
        url(scored_account, suffix), headers=headers
    )
    assert response.status_code == (200 if allowed else 404)


@pytest.mark.parametrize(("persona", "allowed"), PERSONAS)
@pytest.mark.parametrize("action", ["feedback/", "override/", "owner/"])
def test_every_account_action_is_404_outside_the_users_scope(
    request: pytest.FixtureRequest, account: Account, persona: str, allowed: bool, action: str
) -> None:
    response = client_for(request.getfixturevalue(persona)).post(url(account, action), {})
    if allowed:
        assert response.status_code in (200, 400, 403)  # reached the view; input was empty
    else:
        assert response.status_code == 404
    assert not Feedback.objects.exists()
    assert not ScoreOverride.objects.exists()


def test_account_page_shows_score_breakdown_movers_path_contacts_and_timeline(
    csm_client: Client, scored_account: Account
) -> None:
    ContactFactory.create(account=scored_account, name="Dana Quinn", is_primary=True)
    body = csm_client.get(url(scored_account)).content.decode()
    assert f"{scored_account.health_score:.1f}" in body
    assert 'id="breakdown"' in body
    for measure in ("NPS", "CSAT", "Weekly logins"):
        assert measure in body
    assert "Why it moved" in body and "Since last month" in body
    assert "Path to green" in body
    # Contacts and the timeline are tabs of their own.
    contacts = csm_client.get(url(scored_account) + "?tab=contacts").content.decode()
    assert "Dana Quinn" in contacts
    timeline = csm_client.get(url(scored_account) + "?tab=timeline").content.decode()
    assert "Health band" in timeline  # band changes written by the recompute
    # The charts are drawn into the page: the trend, then one per measure.
    assert body.count('<svg class="chart-svg"') == 4
    assert f'aria-label="Health score of {scored_account.name} over the last 180 days' in body


def test_account_page_without_any_score_says_what_to_do(
    csm_client: Client, account: Account
) -> None:
    body = csm_client.get(url(account)).content.decode()
    assert "No score yet" in body
    assert "No breakdown yet" in body
    timeline = csm_client.get(url(account) + "?tab=timeline").content.decode()
    assert "Nothing has happened here yet" in timeline


def test_account_page_lists_score_movements_on_the_timeline(
    csm_client: Client, scored_account: Account
) -> None:
    body = csm_client.get(url(scored_account) + "?tab=timeline").content.decode()
    assert "Score " in body and "→" in body


def test_account_page_query_count_is_fixed(
    csm_client: Client, scored_account: Account, django_assert_max_num_queries: Any
) -> None:
    for i in range(30):
        ContactFactory.create(account=scored_account, name=f"Contact {i}")
    # 24: the charts drawn into the page read the markers and the measures' values; the
    # overview tab no longer reads the timeline or the contacts (their tabs do), but the
    # head counts the contacts and active success plans for the tab labels.
    with django_assert_max_num_queries(24):
        response = csm_client.get(url(scored_account))
    assert response.status_code == 200


def _charts(html: str) -> list[str]:
    return re.findall(r'<svg class="chart-svg".*?</svg>', html, re.DOTALL)


def test_trend_chart_has_band_zones_markers_that_say_what_happened_and_no_script(
    csm_client: Client, scored_account: Account, csm: User
) -> None:
    create_task(actor=csm, account=scored_account, title="Call the sponsor")
    trend = _charts(csm_client.get(url(scored_account)).content.decode())[0]
    assert "<script" not in trend and "style" not in trend
    assert 'role="img"' in trend and f"Health score of {scored_account.name}" in trend
    for label in ("Green ≥ 70", "Yellow 40–70", "Red &lt; 40", "Score", "Feedback", "Tasks"):
        assert label in trend
    assert "Outcomes" in trend and "#0072B2" in trend
    assert "<title>Tasks, " in trend and "Call the sponsor" in trend


def test_the_health_region_redraws_the_trend_with_a_new_score(
    csm_client: Client, scored_account: Account
) -> None:
    before = _charts(csm_client.get(url(scored_account, "health/"), headers=HX).content.decode())
    record(scored_account, "nps", 1, timezone.now())
    recompute_dirty_accounts()
    after = _charts(csm_client.get(url(scored_account, "health/"), headers=HX).content.decode())
    assert len(before) == len(after) == 1 and before != after


def test_each_measure_has_a_chart_with_its_thresholds(
    csm_client: Client, scored_account: Account
) -> None:
    measures = _charts(csm_client.get(url(scored_account)).content.decode())[1:]
    logins = next(svg for svg in measures if "Weekly logins" in svg)
    assert "Bad: 0" in logins and "Good: 50" in logins
    assert "stroke-dasharray" in logins  # the thresholds are dashed lines
    assert logins.count("<circle") == 4  # the four values recorded in 60 days


# --- the score refreshes itself -----------------------------------------------------------


def test_pending_recompute_makes_the_health_region_poll_and_done_stops_it(
    csm_client: Client, scored_account: Account
) -> None:
    DirtyAccount.objects.create(account=scored_account, marked_at=timezone.now())
    body = csm_client.get(url(scored_account)).content.decode()
    assert 'hx-trigger="every 2s"' in body
    assert "Recomputing the score" in body

    polled = csm_client.get(url(scored_account, "health/"), headers=HX)
    assert 'hx-trigger="every 2s"' in polled.content.decode()
    assert "HX-Trigger" not in polled

    DirtyAccount.objects.all().delete()
    done = csm_client.get(url(scored_account, "health/"), headers=HX)
    text = done.content.decode()
    assert text.lstrip().startswith('<section id="health"')
    assert "every 2s" not in text
    assert done["HX-Trigger"] == "health-updated"


def test_health_fragment_without_htmx_redirects_to_the_page(
    csm_client: Client, scored_account: Account
) -> None:
    response = csm_client.get(url(scored_account, "health/"))
    assert response.status_code == 302
    assert response["Location"] == url(scored_account)


# --- log feedback ----------------------------------------------------------------------------


def test_logging_nps_3_lowers_the_score_and_shows_on_the_timeline(
    csm_client: Client,
    scored_account: Account,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    before = scored_account.health_score
    assert before is not None
    with django_capture_on_commit_callbacks(execute=True):
        response = csm_client.post(
            url(scored_account, "feedback/"),
            {"kind": "nps", "score": "3", "text": "Unhappy with support"},
        )
    assert response.status_code == 302
    scored_account.refresh_from_db()
    assert scored_account.health_score is not None and scored_account.health_score < before
    page = csm_client.get(url(scored_account)).content.decode()
    assert "NPS answer (3) logged" in page  # the flash message
    assert "Unhappy with support" in page
    assert not DirtyAccount.objects.filter(account=scored_account).exists()


def test_logging_feedback_with_htmx_swaps_the_form_and_the_score_out_of_band(
    csm_client: Client,
    scored_account: Account,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = csm_client.post(
            url(scored_account, "feedback/"),
            {"kind": "call", "sentiment": "negative", "text": "Budget cuts"},
            headers=HX,
        )
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<section id="log-feedback"')
    assert "Call logged for Acme Corp." in body
    assert '<section id="health"' in body and 'hx-swap-oob="true"' in body
    assert "<html" not in body
    # The head and the timeline refetch themselves on the event.
    assert response["HX-Trigger"] == "account-changed"
    timeline = csm_client.get(url(scored_account, "timeline/"), headers=HX).content.decode()
    assert "Budget cuts" in timeline


BAD_FEEDBACK = [
    ({"kind": "nps"}, "An NPS answer needs a score from 0 to 10."),
    ({"kind": "nps", "score": "11"}, "less than or equal to 10"),
    ({"kind": "nps", "score": "-1"}, "greater than or equal to 0"),
    ({"kind": "csat", "score": "7"}, "CSAT is 1 to 5; 7 is outside that range."),
    ({"kind": "csat", "score": "0"}, "CSAT is 1 to 5"),
    ({"kind": "csat"}, "A CSAT answer needs a score from 1 to 5."),
    ({"kind": "note", "score": "5", "text": "x"}, "Only NPS and CSAT answers have a score"),
    ({"kind": "note"}, "Write a short note or pick a sentiment"),
    ({"kind": "tweet", "text": "x"}, "Select a valid choice"),
    ({"kind": "nps", "score": "abc"}, "Enter a whole number."),
    ({"kind": "email", "text": "x", "sentiment": "furious"}, "Select a valid choice"),
    ({"kind": "email", "text": "x", "occurred_at": "2999-01-01T10:00"}, "This is in the future"),
    ({"kind": "email", "text": "x", "occurred_at": "yesterday"}, "Enter a valid date/time."),
]


@pytest.mark.parametrize(("data", "message"), BAD_FEEDBACK)
@pytest.mark.parametrize("htmx", [False, True])
def test_bad_feedback_is_refused_with_a_specific_message(
    csm_client: Client, account: Account, data: dict[str, str], message: str, htmx: bool
) -> None:
    response = csm_client.post(url(account, "feedback/"), data, headers=HX if htmx else {})
    body = response.content.decode()
    assert response.status_code == (200 if htmx else 400)
    assert message in body.replace("&#x27;", "'")
    assert "Please fix the highlighted field" in body
    assert ("<html" in body) is not htmx
    assert not Feedback.objects.exists()


def test_feedback_page_is_get_only_for_views_and_post_only_for_actions(
    csm_client: Client, account: Account
) -> None:
    assert csm_client.get(url(account, "feedback/")).status_code == 405


# --- override ----------------------------------------------------------------------------------


def test_override_shows_instead_of_the_computed_score_which_stays_visible(
    csm_client: Client, scored_account: Account
) -> None:
    expires = timezone.localdate() + dt.timedelta(days=30)
    computed = scored_account.computed_score
    response = csm_client.post(
        url(scored_account, "override/"),
        {
            "score": "85",
            "reason": "Exec sponsor renewed verbally",
            "expires_at": expires.isoformat(),
        },
    )
    assert response.status_code == 302
    override = ScoreOverride.objects.get(account=scored_account)
    assert override.score == 85 and override.reason == "Exec sponsor renewed verbally"
    body = csm_client.get(url(scored_account)).content.decode()
    assert ">85.0<" in body
    assert f"{computed:.1f}" in body and "Computed:" in body
    assert "Exec sponsor renewed verbally" in body
    assert "Override saved" in body
    portfolio = csm_client.get("/portfolio/").content.decode()
    assert "tag-override" in portfolio


def test_override_with_htmx_returns_the_card_and_a_fresh_score(
    manager_client: Client, scored_account: Account
) -> None:
    expires = timezone.localdate() + dt.timedelta(days=10)
    response = manager_client.post(
        url(scored_account, "override/"),
        {"band": "red", "reason": "Champion left", "expires_at": expires.isoformat()},
        headers=HX,
    )
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="override"')
    assert "Override saved" in body
    assert '<section id="health"' in body and "Champion left" in body


def _future(days: int) -> str:
    return (timezone.localdate() + dt.timedelta(days=days)).isoformat()


BAD_OVERRIDES = [
    ({"score": "80", "expires_at": _future(5)}, "Say why you override the score"),
    ({"score": "80", "reason": "ok"}, "Pick the day the override ends"),
    ({"score": "80", "reason": "ok", "expires_at": _future(0)}, "The expiry must be after today."),
    ({"score": "80", "reason": "ok", "expires_at": _future(-3)}, "The expiry must be after today."),
    ({"score": "80", "reason": "ok", "expires_at": _future(400)}, "at most 180 days"),
    ({"reason": "ok", "expires_at": _future(5)}, "Give a score or a band"),
    ({"score": "150", "reason": "ok", "expires_at": _future(5)}, "less than or equal to 100"),
    ({"score": "x", "reason": "ok", "expires_at": _future(5)}, "Enter a number."),
    ({"band": "purple", "reason": "ok", "expires_at": _future(5)}, "Select a valid choice"),
    ({"score": "50", "band": "red", "reason": "ok", "expires_at": _future(5)}, "not both"),
    ({"score": "80", "reason": "ok", "expires_at": "soon"}, "Enter a valid date."),
]


@pytest.mark.parametrize(("data", "message"), BAD_OVERRIDES)
@pytest.mark.parametrize("htmx", [False, True])
def test_bad_override_is_refused_with_a_specific_message(
    csm_client: Client, account: Account, data: dict[str, str], message: str, htmx: bool
) -> None:
    response = csm_client.post(url(account, "override/"), data, headers=HX if htmx else {})
    body = response.content.decode()
    assert response.status_code == (200 if htmx else 400)
    assert message in body
    assert not ScoreOverride.objects.exists()


# --- change owner ----------------------------------------------------------------------------------


def test_manager_hands_an_account_to_a_teammate(
    manager_client: Client, account: Account, teammate: User
) -> None:
    response = manager_client.post(url(account, "owner/"), {"owner": teammate.pk})
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.owner == teammate
    activity = Activity.objects.get(account=account, kind=Activity.Kind.OWNER_CHANGED)
    assert teammate.display_name in activity.summary


def test_admin_changes_owner_with_htmx_and_sees_the_message(
    admin_client: Client, account: Account, other_csm: User
) -> None:
    response = admin_client.post(url(account, "owner/"), {"owner": other_csm.pk}, headers=HX)
    body = response.content.decode()
    assert f"now belongs to {other_csm.display_name}" in body
    assert response["HX-Trigger"] == "account-changed"
    head = admin_client.get(url(account) + "?part=head", headers=HX).content.decode()
    assert f'<strong id="head-owner">{other_csm.display_name}</strong>' in head
    account.refresh_from_db()
    assert account.owner == other_csm


def test_csm_cannot_change_the_owner(csm_client: Client, account: Account, teammate: User) -> None:
    response = csm_client.post(url(account, "owner/"), {"owner": teammate.pk})
    assert response.status_code == 403
    assert "manager or an admin" in response.content.decode()
    account.refresh_from_db()
    assert account.owner and account.owner.username == "csm"


def test_csm_page_has_no_owner_form(csm_client: Client, account: Account) -> None:
    assert 'id="owner"' not in csm_client.get(url(account)).content.decode()


@pytest.mark.parametrize("htmx", [False, True])
def test_manager_cannot_hand_an_account_to_another_team(
    manager_client: Client, account: Account, other_csm: User, htmx: bool
) -> None:
    response = manager_client.post(
        url(account, "owner/"), {"owner": other_csm.pk}, headers=HX if htmx else {}
    )
    assert "That person is not in your team" in response.content.decode()
    account.refresh_from_db()
    assert account.owner and account.owner.username == "csm"


@pytest.mark.parametrize(
    ("value", "message"),
    [("", "Choose the person who takes the account over."), ("abc", "not in your team")],
)
def test_change_owner_bad_input(
    manager_client: Client, account: Account, value: str, message: str
) -> None:
    response = manager_client.post(url(account, "owner/"), {"owner": value})
    assert response.status_code == 400
    assert message in response.content.decode()


def test_scorecard_fixture_is_the_one_in_use(scored_account: Account, scorecard: Scorecard) -> None:
    # Guards the fixtures above: the history really comes from this scorecard.
    assert scored_account.scores.filter(scorecard=scorecard).count() >= 4


def test_account_page_shows_open_tasks_with_the_create_task_form_and_the_plan_link(
    csm: User, csm_client: Client, account: Account
) -> None:
    create_task(actor=csm, account=account, title="Book the QBR")
    body = csm_client.get(url(account) + "?tab=tasks").content.decode()
    assert "Book the QBR" in body
    assert 'action="/accounts/ACME-1/tasks/"' in body and 'name="task-title"' in body
    plans = csm_client.get(url(account) + "?tab=plans").content.decode()
    assert 'href="/accounts/ACME-1/success-plan/"' in plans  # the no-JavaScript fallback
    assert 'hx-get="/accounts/ACME-1/success-plan/"' in plans


def test_creating_a_task_from_the_account_page_lands_on_its_timeline(
    csm_client: Client, account: Account
) -> None:
    response = csm_client.post(
        url(account, "tasks/"), {"task-title": "Send the renewal deck", "task-priority": "normal"}
    )
    assert response.status_code == 302 and response["Location"] == url(account) + "?tab=tasks"
    body = csm_client.get(response["Location"]).content.decode()
    assert "Task created." in body
    timeline = csm_client.get(url(account) + "?tab=timeline").content.decode()
    assert "Task created: Send the renewal deck" in timeline


@pytest.mark.parametrize("htmx", [False, True])
def test_ending_an_override_shows_the_computed_score_again(
    csm: User, csm_client: Client, scored_account: Account, htmx: bool
) -> None:
    ScoreOverride.objects.create(
        account=scored_account,
        score=95,
        reason="Verbal renewal",
        author=csm,
        expires_at=timezone.now() + dt.timedelta(days=5),
    )
    body = csm_client.get(url(scored_account)).content.decode()
    assert "End override" in body
    response = csm_client.post(url(scored_account, "override/revoke/"), headers=HX if htmx else {})
    assert ScoreOverride.objects.get().revoked_at is not None
    scored_account.refresh_from_db()
    assert scored_account.health_score == scored_account.computed_score
    text = (
        response.content.decode() if htmx else csm_client.get(url(scored_account)).content.decode()
    )
    assert "Override ended" in text


def test_ending_an_override_outside_the_book_is_404(
    other_csm_client: Client, account: Account
) -> None:
    assert other_csm_client.post(url(account, "override/revoke/")).status_code == 404


def test_ending_an_override_when_there_is_none_says_so(
    csm_client: Client, account: Account
) -> None:
    response = csm_client.post(url(account, "override/revoke/"), follow=True)
    assert "There is no active override" in response.content.decode()
