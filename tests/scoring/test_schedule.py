"""The periodic jobs: the beat schedule and the nightly recompute. (The demo's scores are
tested with the whole seeded demo, in tests/chs_site/test_demo.py.)"""

from __future__ import annotations

from django.conf import settings

from accounts.models import Account
from chs_site.celery import app
from scoring.models import DirtyAccount, Scorecard
from scoring.services.recompute import account_id_chunks
from scoring.tasks import nightly_recompute


def test_beat_schedule_has_the_sweep_and_the_nightly_recompute() -> None:
    schedule = settings.CELERY_BEAT_SCHEDULE
    assert schedule["worker-heartbeat-recompute"]["schedule"] == 60.0
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
