"""The scorecard editor in a real Chromium: each weight's share of the score follows what
the admin types (static/js/weight_shares.js), and metric names are shown whole."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Account, User
from scoring.models import Scorecard
from tests.browser.conftest import browser_login
from tests.browser.test_csp import book  # noqa: F401 - the fixture: a red and a green account

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_weight_shares_follow_the_typed_weights(
    page: Any,
    admin: User,
    book: Account,  # noqa: F811
) -> None:
    card = Scorecard.objects.get(status=Scorecard.Status.ACTIVE)
    client = Client()
    client.force_login(admin)
    client.post(reverse("scoring:new_draft", args=[card.pk]))
    draft = Scorecard.objects.get(status=Scorecard.Status.DRAFT)
    admin.set_password("chs-demo")
    admin.save(update_fields=["password"])
    browser_login(page, "admin")
    page.wait_for_url(re.compile(r"/today/"))
    page.goto(f"/scoring/{draft.pk}/edit/")
    rows = draft.measures.count()
    for i in range(rows):
        page.locator(f"#id_m-{i}-weight").fill("1")
    page.locator("#id_m-0-weight").fill(str(rows - 1))  # as much as all the others: half
    share = page.locator("output[for='id_m-0-weight']")
    assert share.inner_text() == "50% of the score"
    page.locator("#id_m-0-DELETE").check()
    assert share.inner_text() == ""
    other = page.locator("output[for='id_m-1-weight']")
    assert other.inner_text() == f"{round(100 / (rows - 1))}% of the score"
    # The metric select is wide enough for its longest name.
    fits = page.evaluate(
        """() => Array.from(document.querySelectorAll("select[name$='-metric']"))
        .every(s => s.scrollWidth <= s.clientWidth + 1 && s.getBoundingClientRect().width >= 200)"""
    )
    assert fits
