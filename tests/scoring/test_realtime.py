"""Scoring against the real components: PostgreSQL (SQL window stats, SKIP LOCKED claims,
concurrent recomputes) and Redis + a real Celery worker (ingest → score, coalescing,
overrides, publishing)."""

from __future__ import annotations

import datetime as dt
import random
import threading
from collections.abc import Callable

import pytest
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Account, User
from chs_site.benchmarks import CeleryProcess
from scoring import engine
from scoring.contracts import MeasureIn, MetricValueIn
from scoring.models import DirtyAccount, Measure, MetricDefinition, Score, Scorecard, ScoreOverride
from scoring.selectors.window_stats import stats_table, window_stats_for
from scoring.services import dirty
from scoring.services.dirty import COALESCE_SECONDS
from scoring.services.overrides import override_score
from scoring.services.recompute import RecomputeResult, recompute_dirty_accounts, recompute_scores
from scoring.services.scorecards import create_scorecard_draft, publish_scorecard
from scoring.services.values import load_metric_values, record_metric_values
from scoring.tasks import sweep_dirty
from tests.conftest import wait_for
from tests.factories import AccountFactory


def _in_thread(fn: Callable[[], object], results: list[object]) -> threading.Thread:
    def run() -> None:
        try:
            results.append(fn())
        except Exception as exc:  # surfaced by the test's assertion on results
            results.append(exc)
        finally:
            connection.close()

    return threading.Thread(target=run)


@pytest.mark.postgres
def test_sql_and_python_window_stats_agree(csm: User) -> None:
    rng = random.Random(7)
    metrics = [MetricDefinition.objects.create(key=f"m{i}", name=f"M{i}") for i in range(4)]
    accounts = AccountFactory.create_batch(30, owner=csm)
    at = timezone.now().replace(microsecond=0)
    values = []
    for a in accounts:
        for m in metrics:
            for _ in range(rng.randint(0, 25)):
                # Whole days too, so observations fall exactly on window boundaries.
                days = rng.choice([rng.uniform(0, 70), float(rng.randint(0, 70))])
                values.append(
                    MetricValueIn(a.pk, m.pk, rng.uniform(-50, 500), at - dt.timedelta(days=days))
                )
    values.append(MetricValueIn(accounts[0].pk, metrics[0].pk, 1.0, at + dt.timedelta(hours=1)))
    record_metric_values(values=values)
    # Scorecards over consecutive metric ids (read as an id range) and with a gap (the
    # metric in between has values, and must not count).
    for used in (metrics[:3], [metrics[0], metrics[2], metrics[3]]):
        spec = engine.ScorecardSpec(
            measures=tuple(
                engine.MeasureSpec(
                    metric=m.key, weight=1, aggregation=agg, window_days=w, bad=0, good=400
                )
                for m in used
                for agg, w in (
                    ("latest", 7),
                    ("avg", 14),
                    ("sum", 30),
                    ("change_pct", 30),
                    ("count", 1),
                )
            )
        )
        all_ids = [a.pk for a in accounts]
        # A dense id range (a nightly chunk: one range scan) and a sparse set (dirty accounts:
        # the ids are listed).
        for ids in (all_ids, all_ids[::3]):
            sql = stats_table(account_ids=ids, specs=[spec], at=at, use_sql=True)
            py = stats_table(account_ids=ids, specs=[spec], at=at, use_sql=False)
            assert list(sql.account_ids) == list(py.account_ids) and sql.columns == py.columns
            s, p = sql.stats, py.stats
            assert (s.observed == p.observed).all()
            assert (s.count == p.count).all()
            # The previous window is only aggregated where a change_pct measure needs it.
            change = [c for (_, w), c in sql.columns.items() if w == 30]
            assert (s.prev_count[:, change] == p.prev_count[:, change]).all()
            # "fresh" and the newest value only matter where the window has values.
            inside = p.observed & p.fresh & (p.count > 0)
            assert ((s.observed & s.fresh & (s.count > 0)) == inside).all()
            # Every metric here has a "latest" measure: its newest value is read wherever it counts.
            assert (s.latest_value[inside] == p.latest_value[inside]).all()
            assert s.total == pytest.approx(p.total, rel=1e-12, abs=1e-9)
            assert s.prev_total[:, change] == pytest.approx(
                p.prev_total[:, change], rel=1e-12, abs=1e-9
            )
            # Stale pairs (values only before the range the SQL aggregates) are found too.
            assert (p.observed & ~inside).any()
            rows = sql.rows_of(ids)
            by_sql = engine.score_batch(
                spec, *engine.measure_values(spec, sql.for_scorecard(spec, rows))
            )
            by_py = engine.score_batch(
                spec, *engine.measure_values(spec, py.for_scorecard(spec, rows))
            )
            reference = window_stats_for(account_ids=ids, specs=[spec], at=at)
            for i, account_id in enumerate(ids):
                scalar = engine.score_from_stats(spec, reference.get(account_id, {}), at=at)
                assert by_sql.result(i).score == by_py.result(i).score == scalar.score
                assert by_py.result(i) == scalar


def _scored_accounts(n: int, owner: User) -> tuple[list[Account], MetricDefinition]:
    wau = MetricDefinition.objects.create(key="wau", name="Weekly active users")
    card = Scorecard.objects.create(name="Default", status="active")
    Measure.objects.create(scorecard=card, metric=wau, weight=1, bad=0, good=100)
    accounts = AccountFactory.create_batch(n, owner=owner)
    return accounts, wau


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_sweeps_share_the_dirty_set_without_overlap(csm: User) -> None:
    accounts, wau = _scored_accounts(60, csm)
    now = timezone.now()
    # Stored without the on-commit recompute (eager mode would consume the markers at once).
    with transaction.atomic():
        load_metric_values((a.pk, wau.pk, now, float(i)) for i, a in enumerate(accounts))
        DirtyAccount.objects.bulk_create(DirtyAccount(account=a, marked_at=now) for a in accounts)
    results: list[object] = []
    threads = [
        _in_thread(lambda: recompute_dirty_accounts(batch_size=7), results) for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(isinstance(r, RecomputeResult) for r in results), results
    assert sum(r.accounts for r in results) == 60  # type: ignore[attr-defined]
    assert not DirtyAccount.objects.exists()
    assert Score.objects.count() == 60


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_recomputes_of_the_same_accounts_at_once_give_one_consistent_result(csm: User) -> None:
    accounts, wau = _scored_accounts(40, csm)
    now = timezone.now()
    load_metric_values((a.pk, wau.pk, now, float(i)) for i, a in enumerate(accounts))
    ids = [a.pk for a in accounts]
    results: list[object] = []
    threads = [_in_thread(lambda: recompute_scores(account_ids=ids), results) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(isinstance(r, RecomputeResult) for r in results), results
    # The second waits on the first's row locks, then finds nothing changed.
    assert sorted(r.history_rows for r in results) == [0, 40]  # type: ignore[attr-defined]
    assert Score.objects.count() == 40
    for i, a in enumerate(Account.objects.filter(pk__in=ids).order_by("pk")):
        assert a.computed_score == float(i) and a.health_score == float(i)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_ingest_is_scored_by_a_real_worker_within_seconds(
    celery_worker_process: CeleryProcess, csm: User
) -> None:
    [account], wau = _scored_accounts(1, csm)
    record_metric_values(values=[MetricValueIn(account.pk, wau.pk, 42, timezone.now())])
    assert wait_for(lambda: Account.objects.get(pk=account.pk).computed_score == 42.0, timeout=20)
    account.refresh_from_db()
    assert account.health_band == "yellow"
    assert Score.objects.filter(account=account).count() == 1
    assert not DirtyAccount.objects.exists()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_many_ingests_in_the_same_second_become_one_recompute(
    celery_worker_process: CeleryProcess, csm: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A wider window than production's second, so a loaded CI machine cannot split the burst.
    monkeypatch.setattr(dirty, "COALESCE_SECONDS", 3.0)
    [account], wau = _scored_accounts(1, csm)
    start = timezone.now()
    for i in range(20):
        record_metric_values(
            values=[
                MetricValueIn(account.pk, wau.pk, float(i), start + dt.timedelta(milliseconds=i))
            ]
        )
    assert (timezone.now() - start).total_seconds() < COALESCE_SECONDS
    assert wait_for(lambda: Account.objects.get(pk=account.pk).computed_score == 19.0, timeout=20)
    assert wait_for(lambda: not DirtyAccount.objects.exists(), timeout=10)
    # One recompute saw all 20 values: one history row, not one per ingest.
    assert Score.objects.filter(account=account).count() == 1


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_override_is_shown_until_expiry_while_the_worker_keeps_computing(
    celery_worker_process: CeleryProcess, csm: User
) -> None:
    [account], wau = _scored_accounts(1, csm)
    record_metric_values(values=[MetricValueIn(account.pk, wau.pk, 30, timezone.now())])
    assert wait_for(lambda: Account.objects.get(pk=account.pk).computed_score == 30.0)
    override = override_score(
        account=account,
        author=csm,
        band="green",
        reason="Renewal signed; usage dip is a holiday.",
        expires_at=timezone.now() + dt.timedelta(days=3),
    )
    record_metric_values(values=[MetricValueIn(account.pk, wau.pk, 55, timezone.now())])
    assert wait_for(lambda: Account.objects.get(pk=account.pk).computed_score == 55.0)
    account.refresh_from_db()
    assert (account.health_band, account.computed_band, account.health_score) == (
        "green",
        "yellow",
        55.0,
    )
    ScoreOverride.objects.filter(pk=override.pk).update(expires_at=timezone.now())
    sweep_dirty.delay()
    assert wait_for(lambda: Account.objects.get(pk=account.pk).health_band == "yellow", timeout=20)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_publishing_a_segment_scorecard_rescores_exactly_that_segment_on_the_worker(
    celery_worker_process: CeleryProcess, csm: User
) -> None:
    accounts, wau = _scored_accounts(4, csm)
    Account.objects.filter(pk__in=[accounts[0].pk, accounts[1].pk]).update(segment="Enterprise")
    record_metric_values(values=[MetricValueIn(a.pk, wau.pk, 80, timezone.now()) for a in accounts])
    assert wait_for(lambda: Score.objects.count() == 4)
    draft = create_scorecard_draft(
        name="Enterprise",
        segment="Enterprise",
        measures=[MeasureIn(metric_key="wau", weight=1, bad=0, good=200)],
    )
    publish_scorecard(scorecard=draft)
    assert wait_for(lambda: Score.objects.filter(scorecard=draft).count() == 2, timeout=20)
    assert wait_for(lambda: not DirtyAccount.objects.exists())
    assert Score.objects.count() == 6
    scores = dict(Account.objects.values_list("pk", "computed_score"))
    assert [scores[a.pk] for a in accounts] == [40.0, 40.0, 80.0, 80.0]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_bench_scoring_times_real_workers_and_removes_its_data(
    csm: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``bench scoring`` on committed data: the nightly Celery group on prefork workers it
    starts (pointed at this test database), the same scores as the naive ORM loop, no
    history the next night, and nothing of its own left behind."""
    import json
    from io import StringIO

    from django.core.management import call_command

    from scoring.bench.recompute import BENCH_METRIC_PREFIX, BENCH_SEGMENT
    from scoring.models import ScoreEvent
    from tests.conftest import database_url_for_current_test_db

    monkeypatch.setenv("DATABASE_URL", database_url_for_current_test_db())
    monkeypatch.setenv("CHS_TESTING", "1")
    out = StringIO()
    call_command("bench", "scoring", "--accounts", "300", stdout=out)
    figures = [json.loads(line) for line in out.getvalue().splitlines()]
    (full,) = [f for f in figures if f["bench"] == "scoring_full_recompute"]
    assert full["accounts"] == 300 and full["path"].startswith("celery group")
    assert full["history_rows"] == 300 and full["steady_history_rows"] == 0
    assert full["identical_scores_in_sample"] == 200
    assert full["seconds"] > 0 and full["ratio_to_naive"] > 1
    assert not Account.objects.filter(segment=BENCH_SEGMENT).exists()
    assert not Scorecard.objects.filter(segment=BENCH_SEGMENT).exists()
    assert not MetricDefinition.objects.filter(key__startswith=BENCH_METRIC_PREFIX).exists()
    # Score events carry no foreign-key constraint: the database would keep them.
    assert not ScoreEvent.objects.exists() and not Score.objects.exists()
