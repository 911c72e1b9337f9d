"""The history backfill as a Celery job on a real worker (PostgreSQL + Redis), with the
progress the page polls."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from chs_site.benchmarks import CeleryProcess
from chs_site.confirm import CONFIRM_FIELD, CONFIRM_VALUE
from scoring import synthetic
from scoring.models import BackfillJob, Score, Scorecard
from scoring.services.backfill import backfill_moments
from tests.conftest import wait_for

CONFIRM = {CONFIRM_FIELD: CONFIRM_VALUE}  # the field the confirmation step sends


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_backfill_runs_on_a_real_worker_with_progress(
    celery_worker_process: CeleryProcess, admin_client: Client, csm: User
) -> None:
    data = synthetic.generate(
        accounts=30, days=40, every_days=2, today=timezone.localdate(), owner=csm, seed=11
    )
    card = synthetic.make_scorecard(metrics=data.metrics, keys=synthetic.SIGNAL, version=1)
    response = admin_client.post(
        reverse("scoring:backfill", args=[card.pk]), {"days": 14, **CONFIRM}
    )
    assert response.status_code == 302
    job = BackfillJob.objects.get()
    assert response["Location"] == reverse("scoring:backfill_job", args=[job.pk])

    def finished() -> bool:
        job.refresh_from_db()
        return job.finished

    assert wait_for(finished, timeout=60), f"backfill still {job.status}"
    assert job.status == BackfillJob.Status.DONE, job.error
    assert (job.done, job.total, job.percent) == (30, 30, 100)
    moments = backfill_moments(days=14, today=timezone.now().date())
    rows = Score.objects.filter(scorecard=card, computed_at__in=moments)
    assert rows.count() == job.rows_written > 0
    # Every account has its first backfilled day; later days only where something changed.
    assert set(rows.filter(computed_at=moments[0]).values_list("account_id", flat=True)) == set(
        data.account_ids
    )
    fragment = admin_client.get(
        reverse("scoring:backfill_job", args=[job.pk]), HTTP_HX_REQUEST="true"
    )
    assert b'data-status="done"' in fragment.content
    assert b"hx-trigger" not in fragment.content  # polling stops when done


@pytest.mark.django_db
def test_backfill_is_idempotent_and_validates_days(
    admin_client: Client, admin: User, csm: User, django_capture_on_commit_callbacks: Any
) -> None:
    data = synthetic.generate(
        accounts=5, days=20, every_days=2, today=timezone.localdate(), owner=csm, seed=3
    )
    card = synthetic.make_scorecard(metrics=data.metrics, keys=synthetic.SIGNAL, version=1)
    bad = admin_client.post(
        reverse("scoring:backfill", args=[card.pk]), {"days": 0, **CONFIRM}, follow=True
    )
    assert b"Backfill:" in bad.content and not BackfillJob.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(reverse("scoring:backfill", args=[card.pk]), {"days": 7, **CONFIRM})
    job = BackfillJob.objects.get()
    # No worker here: the job page runs it step by step.
    admin_client.post(reverse("scoring:backfill_step", args=[job.pk]))
    job.refresh_from_db()
    assert job.status == BackfillJob.Status.DONE
    first = sorted(Score.objects.filter(scorecard=card).values_list("account_id", "computed_at"))
    from scoring.services.backfill import run_backfill, run_backfill_step

    run_backfill(job_id=job.pk)  # a duplicate message: nothing to claim
    run_backfill_step(job_id=job.pk)  # a late step: the job is finished
    assert (
        sorted(Score.objects.filter(scorecard=card).values_list("account_id", "computed_at"))
        == first
    )
    draft = Scorecard.objects.create(name="d", version=2)
    refused = admin_client.post(
        reverse("scoring:backfill", args=[draft.pk]), {"days": 7, **CONFIRM}, follow=True
    )
    assert b"Only the active version" in refused.content
