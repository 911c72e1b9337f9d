"""The Webhooks page through a real Chromium on a 390 px phone: an admin adds an endpoint
(the secret shown once), sends a test to a receiver on loopback, and replays it after
confirming; accessible and without sideways scrolling."""

from __future__ import annotations

import re

import pytest
from standardwebhooks.webhooks import Webhook

from accounts.models import User
from outbound.models import Delivery
from tests.browser.conftest import assert_accessible, browser_login
from tests.outbound.conftest import Receiver, receiver  # noqa: F401  (the fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _no_sideways_scroll(page: object) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")  # type: ignore[attr-defined]
    assert width <= 390


def test_admin_adds_an_endpoint_tests_it_and_replays_a_delivery(
    page: object,
    admin: User,
    receiver: Receiver,  # noqa: F811
) -> None:
    admin.set_password("chs-demo")
    admin.save(update_fields=["password"])
    page.set_viewport_size({"width": 390, "height": 844})  # type: ignore[attr-defined]
    browser_login(page, "admin")
    page.wait_for_url(re.compile(r"/today/"))  # type: ignore[attr-defined]
    page.get_by_role("link", name="Webhooks").click()  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(r"/webhooks/$"))  # type: ignore[attr-defined]
    assert_accessible(page)

    page.get_by_label("Endpoint URL").fill(receiver.url)  # type: ignore[attr-defined]
    page.get_by_label("Description").fill("Warehouse")  # type: ignore[attr-defined]
    page.get_by_label("A task was created").check()  # type: ignore[attr-defined]
    page.get_by_role("button", name="Add endpoint").click()  # type: ignore[attr-defined]
    secret = page.get_by_role("textbox", name="Secret").input_value()  # type: ignore[attr-defined]
    assert secret.startswith("whsec_")
    _no_sideways_scroll(page)
    assert_accessible(page)
    page.goto("/webhooks/")  # type: ignore[attr-defined]  # opened again later
    assert page.get_by_role("textbox", name="Secret").count() == 0  # type: ignore[attr-defined]
    assert secret not in page.content()  # type: ignore[attr-defined]

    page.get_by_role("link", name="Warehouse").click()  # type: ignore[attr-defined]
    page.get_by_role("button", name="Send a test").click()  # type: ignore[attr-defined]
    rows = page.locator("#delivery-list tbody tr")  # type: ignore[attr-defined]
    assert rows.count() == 1 and "Delivered" in rows.first.inner_text()
    assert len(receiver.requests) == 1
    first = receiver.requests[0]
    assert Webhook(secret).verify(first.body, first.headers)["type"] == "webhook.test"
    _no_sideways_scroll(page)
    assert_accessible(page)

    page.get_by_role("link", name=re.compile("Send .* again")).click()  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(r"/replay/$"))  # type: ignore[attr-defined]
    assert_accessible(page)
    page.get_by_role("button", name="Send again").click()  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(r"/webhooks/\d+/$"))  # type: ignore[attr-defined]
    assert len(receiver.requests) == 2
    assert receiver.ids()[0] == receiver.ids()[1]
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("succeeded", 2)
