"""Backfill under the embedded default (no worker) in a real Chromium: the confirmed start
returns at once, and the job page runs the job step by step with its progress bar moving
to done."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import User
from scoring import synthetic
from scoring.models import BackfillJob
from scoring.services.backfill import BACKFILL_STEP_CHUNK
from tests.browser.conftest import assert_accessible, browser_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_backfill_page_shows_progress_while_the_page_runs_it(
    page: Any, admin: User, csm: User
) -> None:
    accounts = 2 * BACKFILL_STEP_CHUNK + 10  # three steps
    data = synthetic.generate(
        accounts=accounts, days=30, every_days=2, today=timezone.localdate(), owner=csm, seed=9
    )
    card = synthetic.make_scorecard(metrics=data.metrics, keys=synthetic.SIGNAL, version=1)
    admin.set_password("chs-demo")
    admin.save(update_fields=["password"])
    browser_login(page, "admin")
    page.wait_for_url(re.compile(r"/today/"))
    page.goto(f"/scoring/{card.pk}/backfill/?days=20")
    page.get_by_role("button", name="Start backfill").click()
    page.wait_for_url(re.compile(r"/scoring/backfills/\d+/"))
    seen = set()
    for _ in range(600):
        value = page.evaluate("() => document.querySelector('#backfill-progress progress').value")
        seen.add(int(value))
        if value == 100:
            break
        page.wait_for_timeout(20)
    page.wait_for_selector('[data-status="done"]')
    assert any(0 < v < 100 for v in seen), seen  # the bar moved through the steps
    assert f"{accounts} of {accounts} accounts" in page.inner_text("#backfill-progress")
    assert_accessible(page)
    job = BackfillJob.objects.get()
    assert (job.status, job.done) == ("done", accounts) and job.rows_written > 0
