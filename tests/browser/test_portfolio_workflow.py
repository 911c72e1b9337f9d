"""The portfolio's daily workflow through a real Chromium (Debian's, driven by Playwright).

1. Sort and filters compose in the URL (a filter change keeps the sort; back restores the
   previous view); a saved view is created as the default and reopened by a bare
   /portfolio/.
2. A manager ticks two rows, assigns outreach, confirms the counts, and sees the result.
3. Keyboard shortcuts: ``j``/``k`` move the row focus, ``x`` ticks, ``o`` opens, ``?``
   shows the help, ``/`` searches (↓ enters the results); none fires inside an input.
4. The portfolio and the search page hold at 390 px without sideways scrolling.

axe-core runs on each page state (``assert_accessible``); screenshots go to
artifacts/screenshots/ (git-ignored)."""

from __future__ import annotations

import re

import pytest

from accounts.models import Account, SavedView, User
from playbooks.models import Task
from tests.browser.conftest import assert_accessible, browser_login, shot
from tests.browser.test_workspace import with_password
from tests.factories import AccountFactory, TaskFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def trio(csm: User) -> list[Account]:
    return [
        AccountFactory.create(
            owner=csm, name=name, external_id=ext, health_band=band, health_score=score, arr=arr
        )
        for name, ext, band, score, arr in (
            ("Alpha Mills", "ALPHA-1", "red", 20.0, 1000),
            ("Bravo Foods", "BRAVO-1", "red", 30.0, 9000),
            ("Charlie Labs", "CHARLIE-1", "green", 80.0, 5000),
        )
    ]


def row_names(page: object) -> list[str]:
    return page.locator("#portfolio-table tbody tr td:nth-child(2) a").all_inner_texts()  # type: ignore[attr-defined]


def fits_a_phone(page: object) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth") <= 390)  # type: ignore[attr-defined]


def test_sort_and_filters_compose_and_a_saved_view_reopens_as_the_default(
    page: object, csm: User, trio: list[Account]
) -> None:
    with_password(csm)
    browser_login(page, "csm")
    page.wait_for_url(re.compile(r"/today/"))  # type: ignore[attr-defined]
    page.goto("/portfolio/")  # type: ignore[attr-defined]
    page.get_by_role("link", name="ARR").click()  # type: ignore[attr-defined]  # largest first
    page.wait_for_url(re.compile(r"sort=-arr"))  # type: ignore[attr-defined]
    assert row_names(page) == ["Bravo Foods", "Charlie Labs", "Alpha Mills"]
    page.get_by_label("Band").select_option("red")  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(r"band=red"))  # type: ignore[attr-defined]
    assert "sort=-arr" in page.url  # type: ignore[attr-defined]  # the filter kept the sort
    assert row_names(page) == ["Bravo Foods", "Alpha Mills"]
    page.go_back()  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        "() => document.querySelector('#portfolio-table').innerText.includes('Charlie Labs')"
    )
    assert page.get_by_label("Band").input_value() == ""  # type: ignore[attr-defined]
    page.go_forward()  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(r"band=red"))  # type: ignore[attr-defined]

    page.get_by_text("Save or manage views").click()  # type: ignore[attr-defined]
    page.get_by_label("View name").fill("Red by ARR")  # type: ignore[attr-defined]
    page.get_by_label("Open my portfolio with it").check()  # type: ignore[attr-defined]
    page.get_by_role("button", name="Save this view").click()  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(r"/portfolio/\?band=red&sort=-arr$"))  # type: ignore[attr-defined]
    assert "Saved the view “Red by ARR”" in page.locator(".messages").inner_text()  # type: ignore[attr-defined]
    current = page.locator(".view-tabs a[aria-current=page]")  # type: ignore[attr-defined]
    assert current.inner_text().startswith("Red by ARR")
    assert SavedView.objects.get(owner=csm).query == "band=red&sort=-arr"
    assert_accessible(page)
    shot(page, "portfolio-saved-view")

    # Elsewhere and back: the nav's Portfolio link opens the bare portfolio, which opens the
    # default view.
    page.goto("/tasks/")  # type: ignore[attr-defined]
    page.locator(".mainnav").get_by_role("link", name="Portfolio").click()  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(r"/portfolio/\?band=red&sort=-arr$"))  # type: ignore[attr-defined]
    assert row_names(page) == ["Bravo Foods", "Alpha Mills"]
    page.get_by_role("link", name="Whole book").click()  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(r"view=all"))  # type: ignore[attr-defined]
    assert len(row_names(page)) == 3


def test_a_manager_bulk_assigns_outreach_after_confirming_the_counts(
    page: object, manager: User, teammate: User, trio: list[Account]
) -> None:
    with_password(manager)
    browser_login(page, "manager")
    page.wait_for_url(re.compile(r"/today/"))  # type: ignore[attr-defined]
    page.goto("/portfolio/?view=all")  # type: ignore[attr-defined]
    page.get_by_label("Select Alpha Mills").check()  # type: ignore[attr-defined]
    page.get_by_label("Select Charlie Labs").check()  # type: ignore[attr-defined]
    assert page.locator("#bulk-count").inner_text() == "2 selected"  # type: ignore[attr-defined]
    page.get_by_role("button", name="Assign outreach…").click()  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(r"/portfolio/bulk/outreach/"))  # type: ignore[attr-defined]
    selection = page.locator("#bulk-selection").inner_text()  # type: ignore[attr-defined]
    assert "2 selected accounts: Alpha Mills, Charlie Labs." in selection
    page.get_by_label("Assign to").select_option(str(teammate.pk))  # type: ignore[attr-defined]
    page.get_by_role("button", name="Review").click()  # type: ignore[attr-defined]
    consequences = page.locator("#confirm-consequences")  # type: ignore[attr-defined]
    assert "It creates 2 outreach tasks" in consequences.inner_text()
    assert f"{teammate.display_name}: 2 tasks." in consequences.inner_text()
    assert not Task.objects.exists()  # nothing until confirmed
    assert_accessible(page)
    shot(page, "portfolio-bulk-assign")
    page.get_by_role("button", name="Assign outreach").click()  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(r"/portfolio/\?view=all$"))  # type: ignore[attr-defined]
    assert "2 outreach tasks created." in page.locator(".messages").inner_text()  # type: ignore[attr-defined]
    assert sorted(Task.objects.values_list("account__name", "assignee__username")) == [
        ("Alpha Mills", "teammate"),
        ("Charlie Labs", "teammate"),
    ]


def test_keyboard_shortcuts_move_tick_open_help_and_search_but_never_inside_inputs(
    page: object, csm: User, trio: list[Account]
) -> None:
    with_password(csm)
    browser_login(page, "csm")
    page.wait_for_url(re.compile(r"/today/"))  # type: ignore[attr-defined]
    page.goto("/portfolio/")  # type: ignore[attr-defined]
    focused_row = (
        "() => document.activeElement.closest('tr[data-row]')?.innerText.split('\\n')[0].trim()"
    )
    page.keyboard.press("j")  # type: ignore[attr-defined]
    page.keyboard.press("j")  # type: ignore[attr-defined]
    page.keyboard.press("k")  # type: ignore[attr-defined]
    assert page.evaluate(focused_row) == "Alpha Mills"  # type: ignore[attr-defined]
    page.keyboard.press("j")  # type: ignore[attr-defined]
    page.keyboard.press("x")  # type: ignore[attr-defined]
    assert page.get_by_label("Select Bravo Foods").is_checked()  # type: ignore[attr-defined]
    assert page.locator("#bulk-count").inner_text() == "1 selected"  # type: ignore[attr-defined]

    # Typing in a field: the same keys are just text.
    search = page.get_by_label("Search", exact=True)  # type: ignore[attr-defined]
    search.click()
    search.press_sequentially("jkx?/o")
    assert search.input_value() == "jkx?/o"
    assert page.evaluate("document.activeElement.id") == "id_q"  # type: ignore[attr-defined]
    assert not page.locator("#shortcut-help").is_visible()  # type: ignore[attr-defined]
    assert page.get_by_label("Select Bravo Foods").is_checked()  # type: ignore[attr-defined]
    search.fill("")
    page.wait_for_function("() => document.querySelectorAll('tr[data-row]').length === 3")  # type: ignore[attr-defined]

    # ? shows the help, listing the keys; Escape closes it.
    page.locator("h1").click()  # type: ignore[attr-defined]
    page.keyboard.press("?")  # type: ignore[attr-defined]
    help_dialog = page.locator("#shortcut-help")  # type: ignore[attr-defined]
    assert help_dialog.is_visible()
    assert "Next / previous row" in help_dialog.inner_text()
    assert_accessible(page)
    page.keyboard.press("Escape")  # type: ignore[attr-defined]
    assert not help_dialog.is_visible()

    # A modifier key held: nothing fires (Ctrl+J is the browser's).
    page.keyboard.press("Control+j")  # type: ignore[attr-defined]
    assert page.evaluate(focused_row) is None  # type: ignore[attr-defined]

    # j then o opens the focused row (whichever row j moved to).
    page.keyboard.press("j")  # type: ignore[attr-defined]
    focused = page.evaluate(focused_row)  # type: ignore[attr-defined]
    assert focused in {"Alpha Mills", "Bravo Foods", "Charlie Labs"}
    page.keyboard.press("o")  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(rf"/accounts/{focused.split()[0].upper()}-1/"))  # type: ignore[attr-defined]

    # / from any page focuses the search; ↓ enters the results, Enter opens one.
    page.keyboard.press("/")  # type: ignore[attr-defined]
    assert page.evaluate("document.activeElement.id") == "global-search"  # type: ignore[attr-defined]
    page.keyboard.type("bravo")  # type: ignore[attr-defined]
    menu = page.locator("#global-search-menu")  # type: ignore[attr-defined]
    menu.get_by_role("link", name="Bravo Foods").wait_for()
    assert_accessible(page)
    page.keyboard.press("ArrowDown")  # type: ignore[attr-defined]
    assert page.evaluate("document.activeElement.textContent") == "Bravo Foods"  # type: ignore[attr-defined]
    page.keyboard.press("Enter")  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(r"/accounts/BRAVO-1/"))  # type: ignore[attr-defined]

    # The task queue's rows move and open the same way.
    task = TaskFactory.create(account=trio[0], title="Call about the renewal")
    page.goto("/tasks/")  # type: ignore[attr-defined]
    page.keyboard.press("j")  # type: ignore[attr-defined]
    page.keyboard.press("Enter")  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(rf"/tasks/{task.pk}/"))  # type: ignore[attr-defined]


def test_the_portfolio_and_search_fit_a_phone(page: object, csm: User, trio: list[Account]) -> None:
    with_password(csm)
    page.set_viewport_size({"width": 390, "height": 844})  # type: ignore[attr-defined]
    browser_login(page, "csm")
    page.wait_for_url(re.compile(r"/today/"))  # type: ignore[attr-defined]
    page.goto("/portfolio/")  # type: ignore[attr-defined]
    assert fits_a_phone(page)
    assert_accessible(page)
    page.goto("/search/?q=a")  # type: ignore[attr-defined]
    assert page.locator("#search-results-page").get_by_role("link", name="Alpha Mills").is_visible()  # type: ignore[attr-defined]
    assert fits_a_phone(page)
    assert_accessible(page)
