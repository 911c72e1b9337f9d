"""Through the real components: metrics posted to the API → a real Celery worker
recomputes the score in PostgreSQL; a CSV import job runs on the worker."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from accounts.imports.jobs import create_import_job, start_import
from accounts.models import Account, ImportJob, User
from chs_site.benchmarks import CeleryProcess
from scoring.models import Measure, MetricDefinition, MetricValue, Score, Scorecard
from tests.api.helpers import api_for
from tests.conftest import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def active_scorecard(db: None) -> Scorecard:
    logins = MetricDefinition.objects.create(key="logins", name="Logins")
    card = Scorecard.objects.create(name="Default", status=Scorecard.Status.ACTIVE)
    Measure.objects.create(
        scorecard=card,
        metric=logins,
        weight=1,
        aggregation="latest",
        window_days=30,
        bad=0,
        good=100,
    )
    return card


def test_posted_metrics_are_scored_by_a_real_worker(
    celery_worker_process: CeleryProcess,
    csm: User,
    account: Account,
    active_scorecard: Scorecard,
) -> None:
    when = (timezone.now() - dt.timedelta(hours=1)).isoformat()
    response = api_for(csm, "ingest").post(
        "/api/v1/metrics/",
        {"values": [{"account": "ACME-1", "metric": "logins", "value": 80, "observed_at": when}]},
    )
    assert response.status_code == 202
    assert wait_for(lambda: Score.objects.filter(account=account).exists(), timeout=30)
    account.refresh_from_db()
    assert (account.computed_score, account.computed_band) == (80.0, "green")
    score = Score.objects.get(account=account)
    assert score.breakdown[0]["metric"] == "logins" and score.breakdown[0]["points"] == 80.0

    # A second value moves the score again, through the same flow.
    later = (timezone.now() - dt.timedelta(minutes=5)).isoformat()
    api_for(csm, "ingest").post(
        "/api/v1/metrics/",
        {"values": [{"account": "ACME-1", "metric": "logins", "value": 20, "observed_at": later}]},
    )
    assert wait_for(lambda: Account.objects.get(pk=account.pk).computed_score == 20.0, timeout=30)
    assert Account.objects.get(pk=account.pk).computed_band == "red"


def test_an_import_job_runs_on_a_real_worker(
    celery_worker_process: CeleryProcess,
    admin: User,
    account: Account,
    active_scorecard: Scorecard,
) -> None:
    rows = "".join(
        f"ACME-1,logins,{i},2026-01-01T00:{i // 60:02d}:{i % 60:02d}Z\n" for i in range(3000)
    )
    job = create_import_job(
        user=admin,
        kind="metrics_long",
        upload=ContentFile(("account,metric,value,observed_at\n" + rows).encode(), name="w.csv"),
    )
    try:
        start_import(job=job, user=admin)
        assert wait_for(lambda: ImportJob.objects.get(pk=job.pk).is_finished, timeout=60)
        job.refresh_from_db()
        assert job.status == "succeeded", job.message
        assert job.result == {"rows": 3000, "values": 3000}
        assert MetricValue.objects.filter(account=account).count() == 3000
    finally:
        job.file.delete(save=False)
