"""The draft editor through a real Chromium: change a weight, watch the preview update
through HTMX, save, publish."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from accounts.models import User
from scoring import synthetic
from scoring.models import Scorecard
from scoring.services.recompute import recompute_scores
from tests.browser.conftest import browser_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_admin_changes_a_weight_sees_the_preview_update_and_publishes(
    page: object, admin: User, csm: User
) -> None:
    admin.set_password("chs-demo")
    admin.save(update_fields=["password"])
    data = synthetic.generate(
        accounts=60, days=60, every_days=3, today=timezone.localdate(), owner=csm, seed=5
    )
    # Signal weighted heavily, noise lightly: moving the noise weight up moves scores.
    card = synthetic.make_scorecard(
        metrics=data.metrics,
        keys=synthetic.SIGNAL + synthetic.NOISE,
        weights=(3.0, 3.0, 0.1, 0.1),
        version=1,
    )
    recompute_scores()

    browser_login(page, "admin")
    page.goto(f"/scoring/{card.pk}/")  # type: ignore[attr-defined]
    page.get_by_role("button", name="Edit (new draft)").click()  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(r"/scoring/\d+/edit/"))  # type: ignore[attr-defined]
    draft = Scorecard.objects.get(status=Scorecard.Status.DRAFT)
    draft_avg = page.locator("#preview-avg-draft")  # type: ignore[attr-defined]
    active_avg = page.locator("#preview-avg-active")  # type: ignore[attr-defined]
    assert draft_avg.inner_text() == active_avg.inner_text()
    before = draft_avg.inner_text()

    page.get_by_label("Measure 3 weight").fill("20")  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        "(before) => document.querySelector('#preview-avg-draft').innerText !== before",
        arg=before,
    )
    assert draft_avg.inner_text() != active_avg.inner_text()
    draft.refresh_from_db()
    assert draft.measures.get(position=2).weight == 0.1  # the preview saved nothing

    page.get_by_role("button", name="Save draft").click()  # type: ignore[attr-defined]
    page.get_by_text(f"Draft v{draft.version} saved.").wait_for()  # type: ignore[attr-defined]
    assert draft.measures.get(position=2).weight == 20
    page.get_by_role("button", name=f"Save and publish v{draft.version}").click()  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(r"/scoring/\d+/publish/"))  # type: ignore[attr-defined]
    page.get_by_role("button", name=f"Publish v{draft.version}", exact=True).click()  # type: ignore[attr-defined]
    page.get_by_text(f"v{draft.version} is now active").wait_for()  # type: ignore[attr-defined]
    draft.refresh_from_db()
    card.refresh_from_db()
    assert (draft.status, card.status) == ("active", "retired")
    assert draft.published_by == admin
