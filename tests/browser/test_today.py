"""The Today page through a real Chromium: a CSM logs a call and snoozes an account without
a reload, a manager reads the team's lines and one person's list; both pages pass axe and
hold at 390 px. Screenshots go to artifacts/screenshots/ (git-ignored)."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Account, Feedback, User
from playbooks.models import AttentionSnooze
from scoring.models import Score, Scorecard
from tests.browser.conftest import assert_accessible, browser_login, shot
from tests.browser.test_workspace import with_password
from tests.factories import AccountFactory, TaskFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def today_book(csm: User, teammate: User, scorecard: Scorecard) -> dict[str, Account]:
    today = timezone.localdate()
    now = timezone.now()
    red = AccountFactory.create(
        owner=csm,
        name="Rusty Anchor International Holdings",
        external_id="RED-1",
        score=31,
        arr=Decimal(250000),
        renewal_date=today + dt.timedelta(days=300),
    )
    for days, score, band in ((30, 72, "green"), (9, 58, "yellow"), (2, 31, "red")):
        Score.objects.create(
            account=red,
            scorecard=scorecard,
            score=score,
            band=band,
            computed_at=now - dt.timedelta(days=days),
        )
    renewing = AccountFactory.create(
        owner=csm,
        name="Blue Harbor",
        external_id="BH-7",
        yellow=True,
        arr=Decimal(48000),
        renewal_date=today + dt.timedelta(days=21),
    )
    TaskFactory.create(account=renewing, title="Send QBR deck", due_date=today - dt.timedelta(3))
    theirs = AccountFactory.create(
        owner=teammate,
        name="Teammate Renewal Co",
        external_id="TM-1",
        red=True,
        arr=Decimal(90000),
        renewal_date=today + dt.timedelta(days=10),
    )
    return {"red": red, "renewing": renewing, "theirs": theirs}


def _no_sideways_scroll(page: object) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")  # type: ignore[attr-defined]
    assert width <= PHONE["width"], width


def test_csm_works_today_without_a_reload(
    page: object, csm: User, today_book: dict[str, Account]
) -> None:
    with_password(csm)
    red, renewing = today_book["red"], today_book["renewing"]
    page.set_viewport_size(PHONE)  # type: ignore[attr-defined]
    browser_login(page, "csm")
    page.wait_for_url(re.compile(r"/today/$"))  # type: ignore[attr-defined]
    assert page.locator("h1").inner_text() == "Today"  # type: ignore[attr-defined]
    rows = page.locator(".attention-item")  # type: ignore[attr-defined]
    assert rows.count() == 2
    # Highest rank first: entered red (40) + the drop (25) beat a renewal (20) + overdue (15).
    assert "Rusty Anchor" in rows.nth(0).inner_text()
    assert "Entered red 2 days ago (score 31, was 58)" in rows.nth(0).inner_text()
    assert "1 task overdue (oldest 3 days)" in rows.nth(1).inner_text()
    assert "Teammate Renewal" not in page.content()  # type: ignore[attr-defined]
    assert_accessible(page)
    _no_sideways_scroll(page)
    shot(page, "today-csm")

    # A marker on window survives only if the page is never reloaded.
    page.evaluate("window.__notReloaded = true")  # type: ignore[attr-defined]
    row = page.locator(f"#attention-{red.pk}")  # type: ignore[attr-defined]
    row.get_by_role("link", name="Log a call").click()
    note = page.locator(f"#attention-{red.pk}").get_by_label("Note")  # type: ignore[attr-defined]
    note.wait_for()
    assert page.evaluate("document.activeElement.name") == f"call-{red.pk}-text"  # type: ignore[attr-defined]
    note.fill("Agreed a rescue plan with the sponsor")
    page.locator(f"#attention-{red.pk}").get_by_role(  # type: ignore[attr-defined]
        "button", name="Log it"
    ).click()
    flash = page.locator(f"#attention-{red.pk} .message")  # type: ignore[attr-defined]
    flash.wait_for()
    assert flash.inner_text() == "Call logged for Rusty Anchor International Holdings."
    page.wait_for_function("document.activeElement.classList.contains('message')")  # type: ignore[attr-defined]
    assert page.evaluate("window.__notReloaded === true")  # type: ignore[attr-defined]
    assert Feedback.objects.get(account=red).kind == Feedback.Kind.CALL
    assert_accessible(page)
    _no_sideways_scroll(page)

    # Snooze the renewal for 3 days: the row says so in place, and a reload leaves it out.
    row = page.locator(f"#attention-{renewing.pk}")  # type: ignore[attr-defined]
    row.get_by_label("Snooze Blue Harbor for").select_option("3")
    row.get_by_role("button", name="Snooze").click()
    page.locator(f"#attention-{renewing.pk}").get_by_role(  # type: ignore[attr-defined]
        "button", name="Undo snooze"
    ).wait_for()
    assert (
        "Blue Harbor snoozed until"
        in page.locator(  # type: ignore[attr-defined]
            f"#attention-{renewing.pk}"
        ).inner_text()
    )
    assert page.evaluate("window.__notReloaded === true")  # type: ignore[attr-defined]
    snooze = AttentionSnooze.objects.get(account=renewing)
    assert snooze.until == timezone.localdate() + dt.timedelta(days=3)
    page.reload()  # type: ignore[attr-defined]
    assert page.locator(f"#attention-{renewing.pk}").count() == 0  # type: ignore[attr-defined]
    assert "1 snoozed" in page.locator(".kpis").inner_text()  # type: ignore[attr-defined]


def test_manager_home_is_the_team_and_one_persons_list(
    page: object, manager: User, teammate: User, today_book: dict[str, Account]
) -> None:
    with_password(manager)
    theirs = today_book["theirs"]
    page.set_viewport_size(PHONE)  # type: ignore[attr-defined]
    browser_login(page, "manager")
    page.wait_for_url(re.compile(r"/today/$"))  # type: ignore[attr-defined]
    people = page.locator("table")  # type: ignore[attr-defined]
    assert teammate.display_name in people.inner_text()
    assert page.locator(".attention-item").count() == 3  # type: ignore[attr-defined]
    assert_accessible(page)
    _no_sideways_scroll(page)
    shot(page, "today-manager")

    page.get_by_role("link", name=teammate.display_name).click()  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(r"owner=teammate"))  # type: ignore[attr-defined]
    assert page.locator(".attention-item").count() == 1  # type: ignore[attr-defined]
    assert "Renews in 10 days" in page.locator(f"#attention-{theirs.pk}").inner_text()  # type: ignore[attr-defined]

    page.evaluate("window.__notReloaded = true")  # type: ignore[attr-defined]
    row = page.locator(f"#attention-{theirs.pk}")  # type: ignore[attr-defined]
    row.get_by_role("button", name="Snooze").click()
    page.locator(f"#attention-{theirs.pk}").get_by_role(  # type: ignore[attr-defined]
        "button", name="Undo snooze"
    ).wait_for()
    assert page.evaluate("window.__notReloaded === true")  # type: ignore[attr-defined]
    assert AttentionSnooze.objects.get(account=theirs).snoozed_by == manager
    assert_accessible(page)
    _no_sideways_scroll(page)
