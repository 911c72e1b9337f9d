"""The portfolio through a real Chromium: log in, search through HTMX, stay in one's book."""

from __future__ import annotations

import re

import pytest

from accounts.models import Account, User
from tests.browser.conftest import browser_login
from tests.factories import AccountFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_csm_logs_in_searches_their_book_and_cannot_open_another(
    page: object, csm: User, account: Account, other_account: Account
) -> None:
    csm.set_password("chs-demo")
    csm.save(update_fields=["password"])
    AccountFactory.create(owner=csm, name="Blue Harbor", external_id="BH-7")

    browser_login(page, "csm")
    page.wait_for_url(re.compile(r"/today/"))  # type: ignore[attr-defined]
    page.goto("/portfolio/")  # type: ignore[attr-defined]
    table = page.locator("#portfolio-table")  # type: ignore[attr-defined]
    assert "Acme Corp" in table.inner_text()
    assert "Other Inc" not in table.inner_text()

    # Typing filters through HTMX: only the table is swapped, and the URL keeps the query.
    page.get_by_label("Search", exact=True).fill("harbor")  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        "() => !document.querySelector('#portfolio-table').innerText.includes('Acme Corp')"
    )
    assert "Blue Harbor" in table.inner_text()
    assert "q=harbor" in page.url  # type: ignore[attr-defined]

    response = page.goto(f"/accounts/{other_account.external_id}/")  # type: ignore[attr-defined]
    assert response.status == 404
