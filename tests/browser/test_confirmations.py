"""Confirmation before consequences, in a real Chromium: unsaved editor changes survive
publishing and leaving warns; a playbook's *Run now* asks first, with the preview's counts."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from accounts.models import Account, User
from playbooks.models import Task
from scoring import synthetic
from scoring.models import Scorecard
from scoring.services.recompute import recompute_scores
from tests.browser.conftest import assert_accessible, browser_login, shot
from tests.factories import PlaybookFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _admin_with_draft(admin: User, csm: User) -> Scorecard:
    admin.set_password("chs-demo")
    admin.save(update_fields=["password"])
    data = synthetic.generate(
        accounts=30, days=30, every_days=3, today=timezone.localdate(), owner=csm, seed=5
    )
    card = synthetic.make_scorecard(
        metrics=data.metrics, keys=synthetic.SIGNAL + synthetic.NOISE, version=1
    )
    recompute_scores()
    return card


def test_publishing_with_unsaved_edits_keeps_them_and_asks_first(
    page: object, admin: User, csm: User
) -> None:
    card = _admin_with_draft(admin, csm)
    browser_login(page, "admin")
    page.goto(f"/scoring/{card.pk}/")  # type: ignore[attr-defined]
    page.get_by_role("button", name="Edit (new draft)").click()  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(r"/scoring/\d+/edit/"))  # type: ignore[attr-defined]
    draft = Scorecard.objects.get(status=Scorecard.Status.DRAFT)

    page.get_by_label("Red below").fill("55")  # type: ignore[attr-defined]
    # Leaving with unsaved edits warns (and staying keeps them).
    dialogs: list[str] = []

    def dismiss(dialog: object) -> None:
        dialogs.append(dialog.type)  # type: ignore[attr-defined]
        dialog.dismiss()  # type: ignore[attr-defined]

    page.on("dialog", dismiss)  # type: ignore[attr-defined]
    page.get_by_role("link", name="Scorecards").first.click()  # type: ignore[attr-defined]
    page.wait_for_timeout(300)  # type: ignore[attr-defined]
    assert dialogs == ["beforeunload"]
    assert "/edit/" in page.url  # type: ignore[attr-defined]
    page.remove_listener("dialog", dismiss)  # type: ignore[attr-defined]

    page.get_by_role("button", name=f"Save and publish v{draft.version}").click()  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(r"/scoring/\d+/publish/"))  # type: ignore[attr-defined]
    draft.refresh_from_db()
    assert draft.red_below == 55 and draft.status == Scorecard.Status.DRAFT
    assert page.get_by_text("to another band").is_visible()  # type: ignore[attr-defined]
    assert_accessible(page)
    shot(page, "publish-confirmation-with-unsaved-edits")
    page.get_by_role("button", name=f"Publish v{draft.version}", exact=True).click()  # type: ignore[attr-defined]
    page.get_by_text(f"v{draft.version} is now active").wait_for()  # type: ignore[attr-defined]
    draft.refresh_from_db()
    assert draft.status == Scorecard.Status.ACTIVE and draft.red_below == 55


def test_run_now_opens_a_confirmation_with_the_previews_counts(
    page: object, admin: User, account: Account
) -> None:
    admin.set_password("chs-demo")
    admin.save(update_fields=["password"])
    playbook = PlaybookFactory.create(name="Fell into red")
    Account.objects.filter(pk=account.pk).update(health_band="red")
    browser_login(page, "admin")
    page.set_viewport_size({"width": 390, "height": 800})  # type: ignore[attr-defined]
    page.goto(f"/playbooks/{playbook.pk}/")  # type: ignore[attr-defined]
    page.get_by_role("link", name="Run now").click()  # type: ignore[attr-defined]
    step = page.locator("#confirm-step")  # type: ignore[attr-defined]
    step.wait_for()
    assert "/run/" not in page.url  # type: ignore[attr-defined]  # loaded in place by htmx
    assert "It fires for 1 account and creates 1 task." in step.inner_text()
    assert not Task.objects.exists()
    # The step itself is axe-clean (the rest of this page is the accessibility work's).
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(
        page, context="#confirm-step", options={"runOnly": ["wcag2a", "wcag2aa", "wcag21aa"]}
    )
    assert results.violations_count == 0, results.generate_report()
    step.get_by_role("button", name="Run now").click()
    page.get_by_text("1 task created").wait_for()  # type: ignore[attr-defined]
    assert Task.objects.count() == 1
