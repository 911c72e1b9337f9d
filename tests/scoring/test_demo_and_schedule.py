"""Demo scoring data (deterministic, idempotent, believable) and the periodic jobs."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Count
from django.utils import timezone

from accounts import demo as accounts_demo
from accounts.models import Account
from chs_site.celery import app
from scoring import demo
from scoring.models import DirtyAccount, MetricValue, Score, Scorecard
from scoring.services.recompute import account_id_chunks
from scoring.tasks import nightly_recompute


def _snapshot() -> tuple[object, ...]:
    return (
        MetricValue.objects.count(),
        Score.objects.count(),
        Scorecard.objects.count(),
        list(
            Account.objects.order_by("pk").values_list("computed_score", "health_band", "top_mover")
        ),
    )


def test_demo_is_believable_deterministic_and_idempotent(db: None) -> None:
    today = timezone.localdate()
    accounts_demo.seed(today=today)
    first = demo.seed(today=today)
    assert first["metric_definitions"] >= 8 and first["scorecards"] == 2
    assert first["metric_values"] > 400_000  # 180 days of daily values for 600 accounts
    before = _snapshot()
    again = demo.seed(today=today)
    assert again == {"metric_definitions": 0, "scorecards": 0, "metric_values": 0, "scores": 0}
    assert _snapshot() == before

    bands = dict(Account.objects.values_list("health_band").annotate(n=Count("id")))
    assert set(bands) == {"red", "yellow", "green"}
    assert bands["green"] > bands["red"]  # most accounts are healthy
    assert Account.objects.filter(score_change_30d__lt=-10).count() > 20  # some decline
    assert Account.objects.filter(score_change_30d__gt=10).count() > 10  # some recover
    assert Account.objects.exclude(top_mover="").count() > 300
    enterprise = Account.objects.filter(segment="Enterprise").first()
    assert enterprise is not None
    assert Score.objects.filter(account=enterprise).first().scorecard.segment == "Enterprise"  # type: ignore[union-attr]
    # Weekly history over ~180 days.
    assert Score.objects.filter(account=enterprise).count() >= 20
    # Some churn-bound accounts stopped reporting usage: stale in their breakdown.
    latest = Score.objects.order_by("account_id", "-computed_at")
    assert any(
        row["stale"]
        for s in latest[:2000]
        for row in s.breakdown
        if row["metric"] == "active_users"
    )


def test_beat_schedule_has_the_sweep_and_the_nightly_recompute() -> None:
    schedule = settings.CELERY_BEAT_SCHEDULE
    assert schedule["worker-heartbeat"]["schedule"] == 60.0
    assert schedule["scoring-sweep-dirty"]["schedule"] == 60.0
    app.loader.import_default_modules()  # autodiscovery is lazy
    for entry in schedule.values():
        assert entry["task"] in app.tasks


def test_nightly_recompute_covers_every_account_in_chunks(
    csm: object, default_scorecard: Scorecard, wau: object
) -> None:
    from tests.factories import AccountFactory

    AccountFactory.create_batch(12, owner=csm)
    assert len(account_id_chunks(chunk_size=5)) == 3
    nightly_recompute.apply()
    assert Account.objects.filter(computed_at__isnull=True).count() == 0
    assert not DirtyAccount.objects.exists()
