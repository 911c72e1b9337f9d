"""Surveys through a real Chromium on a 390 px phone: the public answer page (accessible,
and answerable with JavaScript switched off), and an admin's campaign page and send flow."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.urls import reverse

from accounts.models import Account, Feedback, User
from surveys.links import ANSWER_SALT, make_token
from surveys.models import Campaign, Recipient, Survey
from surveys.selectors import AudienceFilters
from surveys.services.answers import answer_survey
from surveys.services.campaigns import start_campaign
from tests.browser.conftest import assert_accessible, browser_login
from tests.browser.test_csp import Violations
from tests.factories import ContactFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def campaign(admin: User, account: Account) -> Campaign:
    """An NPS campaign, sent (the test's commit runs its batch) to one contact of ``account``."""
    ContactFactory.create(account=account, name="Dana Buyer", email="dana@example.com")
    survey = Survey.objects.create(
        name="Quarterly NPS",
        kind="nps",
        question="How likely are you to recommend us to a colleague?",
        follow_up="What is the main reason for your score?",
    )
    return start_campaign(actor=admin, survey=survey, filters=AudienceFilters())


def answer_path(campaign: Campaign) -> str:
    recipient = Recipient.objects.get(campaign=campaign)
    return reverse("surveys:answer", args=[make_token(recipient.pk, salt=ANSWER_SALT)])


def no_sideways_scroll(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"])


def test_the_answer_page_is_accessible_on_a_phone(page: Any, campaign: Campaign) -> None:
    watched = Violations(page.context)
    page.set_viewport_size(PHONE)
    page.goto(answer_path(campaign))
    assert_accessible(page)
    assert no_sideways_scroll(page)
    page.get_by_role("button", name="Send my answer").click()  # no score chosen
    assert page.get_by_text("Choose a score.").is_visible()
    assert_accessible(page)
    page.get_by_label("8", exact=True).check()
    page.get_by_label("What is the main reason for your score?").fill("Support is quick")
    page.get_by_role("button", name="Send my answer").click()
    page.get_by_role("heading", name="Thank you").wait_for()
    assert_accessible(page)
    assert watched.settle(page) == []
    assert Feedback.objects.get().score == 8


def test_the_answer_page_works_without_javascript(
    browser: Any, live_server: Any, campaign: Campaign
) -> None:
    context = browser.new_context(
        base_url=live_server.url, java_script_enabled=False, viewport=PHONE
    )
    try:
        page = context.new_page()
        path = answer_path(campaign)
        page.goto(path)
        page.get_by_label("2", exact=True).check()
        page.get_by_role("button", name="Send my answer").click()
        page.get_by_role("heading", name="Thank you").wait_for()
        assert no_sideways_scroll(page)
        page.goto(path)  # the link again: refused, clearly
        page.get_by_role("heading", name="You already answered this survey").wait_for()
    finally:
        context.close()
    assert Feedback.objects.get().score == 2


def test_an_admin_sends_a_survey_and_reads_the_campaign_page_on_a_phone(
    page: Any, admin: User, campaign: Campaign
) -> None:
    recipient = Recipient.objects.get(campaign=campaign)
    answer_survey(token=make_token(recipient.pk, salt=ANSWER_SALT), score=3, comment="Too slow")
    admin.set_password("chs-demo")
    admin.save(update_fields=["password"])
    watched = Violations(page.context)
    page.set_viewport_size(PHONE)
    browser_login(page, "admin")
    page.wait_for_url(re.compile(r"/today/"))
    for path in (reverse("surveys:surveys"), reverse("surveys:survey_new")):
        page.goto(path)
        assert_accessible(page)
        assert no_sideways_scroll(page)
    page.goto(campaign.get_absolute_url())
    assert page.get_by_text("Too slow").is_visible()
    assert page.locator("#results .kpi").last.inner_text() == "-100"
    assert no_sideways_scroll(page)
    assert_accessible(page)

    page.goto(reverse("surveys:survey_send", args=[campaign.survey_id]))
    assert_accessible(page)
    assert no_sideways_scroll(page)
    page.get_by_label("Red").check()  # the account has no band: nobody left
    page.locator("#reach").get_by_text("0 contacts").wait_for()
    page.get_by_label("Red").uncheck()
    page.get_by_role("button", name="Review and send…").click()
    # Surveyed moments ago: the throttle leaves the only contact out.
    page.get_by_text("Left out: 1 contact surveyed recently.").wait_for()
    assert_accessible(page)
    assert watched.settle(page) == []  # the chart, htmx's live count: no CSP violation
