"""Without a worker (the embedded default: tasks in-process) starting a backfill returns at
once and the job page runs it a chunk per request, its progress bar moving, to the same
history rows the worker writes."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from chs_site.confirm import CONFIRM_FIELD, CONFIRM_VALUE
from scoring import synthetic
from scoring.models import BackfillJob, Score, Scorecard
from scoring.services.backfill import (
    BACKFILL_STEP_CHUNK,
    backfill_moments,
    run_backfill,
    start_backfill,
)

pytestmark = pytest.mark.django_db

CONFIRM = {CONFIRM_FIELD: CONFIRM_VALUE}
HX = {"HX-Request": "true"}
ACCOUNTS = BACKFILL_STEP_CHUNK + 5  # two steps


@pytest.fixture
def card(csm: User) -> Scorecard:
    data = synthetic.generate(
        accounts=ACCOUNTS, days=30, every_days=2, today=timezone.localdate(), owner=csm, seed=5
    )
    return synthetic.make_scorecard(metrics=data.metrics, keys=synthetic.SIGNAL, version=1)


def _history(card: Scorecard, days: int) -> list[tuple[Any, ...]]:
    moments = backfill_moments(days=days, today=timezone.now().date())
    return sorted(
        Score.objects.filter(scorecard=card, computed_at__in=moments).values_list(
            "account_id", "computed_at", "score", "band"
        )
    )


def test_starting_returns_at_once_and_the_page_runs_the_job_in_steps(
    admin_client: Client, card: Scorecard, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        started = admin_client.post(
            reverse("scoring:backfill", args=[card.pk]), {"days": 10, **CONFIRM}
        )
    job = BackfillJob.objects.get()
    assert started["Location"] == reverse("scoring:backfill_job", args=[job.pk])
    # Nothing ran inside the request that started it.
    assert job.status == BackfillJob.Status.QUEUED and _history(card, 10) == []

    page = admin_client.get(started["Location"]).content.decode()
    step_url = reverse("scoring:backfill_step", args=[job.pk])
    assert f'hx-post="{step_url}"' in page and 'hx-trigger="load' in page
    assert "Run the next accounts" in page  # the no-script button
    job.refresh_from_db()
    assert job.status == BackfillJob.Status.QUEUED  # showing the page runs nothing

    first = admin_client.post(step_url, headers=HX).content.decode()
    job.refresh_from_db()
    assert (job.status, job.done, job.total) == ("running", BACKFILL_STEP_CHUNK, ACCOUNTS)
    assert f"{BACKFILL_STEP_CHUNK} of {ACCOUNTS} accounts" in first
    assert f'hx-post="{step_url}"' in first and "<html" not in first  # asks for the next step

    last = admin_client.post(step_url, headers=HX).content.decode()
    job.refresh_from_db()
    assert (job.status, job.done, job.percent) == ("done", ACCOUNTS, 100)
    assert 'data-status="done"' in last and "hx-post" not in last and "hx-get" not in last
    stepped = _history(card, 10)
    assert len(stepped) == job.rows_written > 0

    # The worker's path writes exactly the same rows.
    Score.objects.filter(scorecard=card, computed_at__in=[r[1] for r in stepped]).delete()
    job2 = start_backfill(scorecard=card, days=10, author=job.created_by)
    run_backfill(job_id=job2.pk)
    assert _history(card, 10) == stepped


def test_a_step_without_javascript_returns_to_the_job_page(
    admin_client: Client, card: Scorecard, admin: User
) -> None:
    job = start_backfill(scorecard=card, days=3, author=admin)
    response = admin_client.post(reverse("scoring:backfill_step", args=[job.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("scoring:backfill_job", args=[job.pk])
    job.refresh_from_db()
    assert job.done == BACKFILL_STEP_CHUNK


def test_a_step_of_a_finished_job_changes_nothing(
    admin_client: Client, card: Scorecard, admin: User
) -> None:
    job = start_backfill(scorecard=card, days=3, author=admin)
    url = reverse("scoring:backfill_step", args=[job.pk])
    admin_client.post(url)
    admin_client.post(url)
    job.refresh_from_db()
    assert job.status == BackfillJob.Status.DONE
    rows, written = _history(card, 3), job.rows_written
    admin_client.post(url)
    job.refresh_from_db()
    assert (_history(card, 3), job.rows_written, job.done) == (rows, written, ACCOUNTS)


@pytest.mark.parametrize("who", ["csm_client", "manager_client"])
def test_only_admins_run_steps(
    request: pytest.FixtureRequest, who: str, card: Scorecard, admin: User
) -> None:
    job = start_backfill(scorecard=card, days=3, author=admin)
    client: Client = request.getfixturevalue(who)
    assert client.post(reverse("scoring:backfill_step", args=[job.pk])).status_code == 403
    page = client.get(reverse("scoring:backfill_job", args=[job.pk])).content.decode()
    assert "hx-post" not in page  # a reader's page polls; it does not run the job
    job.refresh_from_db()
    assert job.done == 0
