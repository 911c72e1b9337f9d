"""Scoring services on the default database (SQLite locally, PostgreSQL in CI)."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from accounts.models import Account, Activity, User
from chs_site.errors import ApplicationError, ValidationFailed
from scoring.contracts import MeasureIn, MetricValueIn
from scoring.models import (
    DirtyAccount,
    Measure,
    MetricDefinition,
    MetricValue,
    Score,
    Scorecard,
    ScoreEvent,
)
from scoring.selectors.history import path_to_green, score_movers
from scoring.selectors.preview import preview_draft
from scoring.selectors.scorecards import current_scorecard_for, scorecard_spec
from scoring.services.overrides import override_score, revoke_override
from scoring.services.recompute import recompute_scores
from scoring.services.scorecards import create_scorecard_draft, publish_scorecard
from scoring.services.values import record_metric_values
from tests.factories import AccountFactory
from tests.scoring.conftest import Ingest


def test_record_metric_values_upserts_and_deduplicates(
    account: Account, wau: MetricDefinition
) -> None:
    at = timezone.now()
    stored = record_metric_values(
        values=[
            MetricValueIn(account.pk, wau.pk, 10, at),
            MetricValueIn(account.pk, wau.pk, 11, at),  # same moment: last wins
            MetricValueIn(account.pk, wau.pk, 5, at - dt.timedelta(days=1)),
        ]
    )
    assert stored == 2
    assert record_metric_values(values=[MetricValueIn(account.pk, wau.pk, 12, at)]) == 1
    assert sorted(MetricValue.objects.values_list("value", flat=True)) == [5.0, 12.0]
    assert DirtyAccount.objects.filter(account=account).exists()


def test_ingest_recomputes_the_account_and_keeps_history(
    account: Account, default_scorecard: Scorecard, wau: MetricDefinition, ingest: Ingest
) -> None:
    ingest(account, wau, 42)
    account.refresh_from_db()
    assert account.computed_score == 42.0
    assert account.health_score == 42.0 and account.health_band == "yellow"
    assert not DirtyAccount.objects.exists()
    score = Score.objects.get(account=account)
    assert score.breakdown[0]["value"] == 42.0 and score.scorecard == default_scorecard


def test_a_recompute_without_change_writes_no_history_but_moves_computed_at(
    account: Account, default_scorecard: Scorecard, wau: MetricDefinition, ingest: Ingest
) -> None:
    ingest(account, wau, 42)
    account.refresh_from_db()
    first = account.computed_at
    recompute_scores(account_ids=[account.pk])
    account.refresh_from_db()
    assert Score.objects.filter(account=account).count() == 1
    assert account.computed_at is not None and first is not None and account.computed_at > first


def test_segment_scorecard_beats_the_default(
    account: Account, default_scorecard: Scorecard, wau: MetricDefinition, ingest: Ingest
) -> None:
    enterprise = Scorecard.objects.create(name="Ent", segment="Enterprise", status="active")
    Measure.objects.create(scorecard=enterprise, metric=wau, weight=1, bad=0, good=1000)
    big = AccountFactory.create(segment="Enterprise", owner=account.owner)
    ingest(big, wau, 500)
    ingest(account, wau, 500)
    big.refresh_from_db()
    account.refresh_from_db()
    assert big.computed_score == 50.0
    assert account.computed_score == 100.0


def test_score_changes_become_events_that_playbooks_process_after_commit(
    account: Account,
    default_scorecard: Scorecard,
    wau: MetricDefinition,
    ingest: Ingest,
) -> None:
    ingest(account, wau, 80)
    ingest(account, wau, 30)
    ingest(account, wau, 30)  # unchanged: no event
    events = list(ScoreEvent.objects.filter(account=account).order_by("id"))
    assert [(e.previous_score, e.previous_band, e.score, e.band) for e in events] == [
        (None, "", 80.0, "green"),
        (80.0, "green", 30.0, "red"),
    ]
    newest = Score.objects.filter(account=account).first()
    assert newest is not None and events[1].score_row_id == newest.pk
    assert events[1].scorecard_id == default_scorecard.pk
    # A first score has no previous breakdown; a later one lists the measures that moved.
    assert events[0].breakdown is None
    assert [m["metric"] for m in events[1].breakdown or []] == ["wau"]
    # On commit the playbooks were nudged (in-process here) and took them.
    assert all(e.processed_at is not None for e in events)
    assert Activity.objects.filter(account=account, kind="band_changed").count() == 2


def test_recompute_query_count_does_not_grow_with_the_batch(
    csm: User,
    default_scorecard: Scorecard,
    wau: MetricDefinition,
    tickets: MetricDefinition,
    django_assert_max_num_queries: object,
) -> None:
    now = timezone.now()
    counts = []
    # SQLite splits statements at 999 parameters, so the big batch stays below that there.
    for n in (5, 1000 if connection.vendor == "postgresql" else 100):
        accounts = AccountFactory.create_batch(n, owner=csm)
        record_metric_values(
            values=[
                MetricValueIn(a.pk, m.pk, 5.0 + d, now - dt.timedelta(days=d))
                for a in accounts
                for m in (wau, tickets)
                for d in range(3)
            ]
        )
        # A constant number, whatever the batch size (no query per account or measure);
        # one of them writes the batch's score events (the playbooks read them after commit),
        # two are the savepoint that lets a failing account be set aside (quarantine).
        with django_assert_max_num_queries(19) as captured:  # type: ignore[operator]
            result = recompute_scores(account_ids=[a.pk for a in accounts])
        assert result.accounts == n and result.batches == 1
        counts.append(len(captured))
    assert counts[0] == counts[1]


def test_movers_trend_and_top_mover(
    account: Account, default_scorecard: Scorecard, wau: MetricDefinition, ingest: Ingest
) -> None:
    month_ago = timezone.now() - dt.timedelta(days=40)
    # Recorded without running the on-commit recompute: scored as of 40 days ago below.
    record_metric_values(values=[MetricValueIn(account.pk, wau.pk, 42, month_ago)])
    recompute_scores(account_ids=[account.pk], at=month_ago + dt.timedelta(minutes=1))
    ingest(account, wau, 18)
    account.refresh_from_db()
    assert account.score_change_30d == -24.0
    assert account.top_mover == "Weekly active users fell from 42 to 18: −24.0 points"
    movers = score_movers(account=account, days=30)
    assert movers[0].sentence == account.top_mover
    assert Score.objects.filter(account=account).count() == 2
    assert (
        Score.objects.filter(
            account=account, computed_at__gte=timezone.now() - dt.timedelta(days=30)
        ).count()
        == 1
    )
    path = path_to_green(account=account)
    assert path is not None and path.steps[0].metric == "wau" and path.score_after >= 70
    assert current_scorecard_for(account) == default_scorecard


def test_override_shows_instead_of_the_computed_score_until_revoked(
    account: Account,
    csm: User,
    default_scorecard: Scorecard,
    wau: MetricDefinition,
    ingest: Ingest,
) -> None:
    ingest(account, wau, 30)
    override = override_score(
        account=account,
        author=csm,
        band="green",
        reason="Signed a 3-year renewal yesterday.",
        expires_at=timezone.now() + dt.timedelta(days=7),
    )
    account.refresh_from_db()
    assert (account.health_band, account.computed_band) == ("green", "red")
    ingest(account, wau, 50)  # the computed score keeps updating
    account.refresh_from_db()
    assert (account.health_score, account.health_band) == (50.0, "green")
    assert (account.computed_score, account.computed_band) == (50.0, "yellow")
    revoke_override(override=override, author=csm)
    account.refresh_from_db()
    assert (account.health_score, account.health_band) == (50.0, "yellow")
    with pytest.raises(ApplicationError):
        revoke_override(override=override, author=csm)


def test_expired_override_stops_at_the_next_sweep(
    account: Account, csm: User, default_scorecard: Scorecard, wau: MetricDefinition, ingest: Ingest
) -> None:
    ingest(account, wau, 30)
    override = override_score(
        account=account,
        author=csm,
        score=90,
        reason="Exec sponsor confirmed expansion.",
        expires_at=timezone.now() + dt.timedelta(days=1),
    )
    account.refresh_from_db()
    assert (account.health_score, account.health_band) == (90.0, "green")
    type(override).objects.filter(pk=override.pk).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    from scoring.tasks import sweep_dirty

    sweep_dirty.apply()
    account.refresh_from_db()
    assert (account.health_score, account.health_band) == (30.0, "red")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"score": 50, "reason": ""}, "reason"),
        ({"score": 50, "band": "red"}, "score"),
        ({}, "score"),
        ({"score": 150}, "score"),
        ({"band": "purple"}, "band"),
        ({"score": 50, "expires_at": "past"}, "expires_at"),
    ],
)
def test_override_validation_names_the_field(
    account: Account, csm: User, kwargs: dict, field: str
) -> None:
    args = {"reason": "Because.", "expires_at": timezone.now() + dt.timedelta(days=1), **kwargs}
    if args["expires_at"] == "past":
        args["expires_at"] = timezone.now() - dt.timedelta(days=1)
    with pytest.raises(ValidationFailed) as exc:
        override_score(account=account, author=csm, **args)
    assert field in {e["field"] for e in exc.value.errors}


def test_publishing_rescores_exactly_its_segment(
    csm: User,
    default_scorecard: Scorecard,
    wau: MetricDefinition,
    ingest: Ingest,
    django_capture_on_commit_callbacks: Any,
) -> None:
    smb = AccountFactory.create(segment="SMB", owner=csm)
    ent = AccountFactory.create(segment="Enterprise", owner=csm)
    ingest(smb, wau, 500)
    ingest(ent, wau, 500)
    draft = create_scorecard_draft(
        name="Enterprise",
        segment="Enterprise",
        measures=[MeasureIn(metric_key="wau", weight=1, bad=0, good=1000)],
    )
    assert draft.status == "draft" and draft.version == 1
    DirtyAccount.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        publish_scorecard(scorecard=draft)
    assert not DirtyAccount.objects.exists()  # consumed by the (eager) recompute
    ent.refresh_from_db()
    smb.refresh_from_db()
    assert ent.computed_score == 50.0 and smb.computed_score == 100.0
    assert Score.objects.filter(account=smb).count() == 1  # untouched
    with pytest.raises(ApplicationError):
        publish_scorecard(scorecard=draft)


def test_publish_marks_only_affected_accounts_dirty(
    csm: User, default_scorecard: Scorecard, wau: MetricDefinition
) -> None:
    smb = AccountFactory.create(segment="SMB", owner=csm)
    AccountFactory.create(segment="Enterprise", owner=csm)
    draft = create_scorecard_draft(name="SMB v2", measures=[MeasureIn(metric_key="wau", weight=1)])
    ent_card = create_scorecard_draft(
        name="Ent", segment="Enterprise", measures=[MeasureIn(metric_key="wau", weight=1)]
    )
    publish_scorecard(scorecard=ent_card)  # no on_commit in this test: markers stay
    DirtyAccount.objects.all().delete()
    publish_scorecard(scorecard=draft)
    assert list(DirtyAccount.objects.values_list("account_id", flat=True)) == [smb.pk]
    default_scorecard.refresh_from_db()
    assert default_scorecard.status == "retired"


def test_scorecard_validation_lists_every_problem(wau: MetricDefinition) -> None:
    with pytest.raises(ValidationFailed) as exc:
        create_scorecard_draft(
            name="",
            red_below=80,
            green_at=60,
            measures=[MeasureIn(metric_key="nope", weight=0, aggregation="median", bad=1, good=1)],
        )
    fields = {e["field"] for e in exc.value.errors}
    assert {"name", "red_below", "weight", "aggregation", "good", "metric"} <= fields


def test_recompute_scores_command(
    account: Account, default_scorecard: Scorecard, wau: MetricDefinition
) -> None:
    record_metric_values(values=[MetricValueIn(account.pk, wau.pk, 64, timezone.now())])
    out = StringIO()
    call_command("recompute_scores", stdout=out)
    assert "Recomputed 1 accounts" in out.getvalue()
    out = StringIO()
    call_command("recompute_scores", "--account", "ACME-1", stdout=out)
    assert "ACME-1 Acme Corp: 64.0 (yellow); unchanged" in out.getvalue()
    out = StringIO()
    call_command("recompute_scores", "--all", stdout=out)
    assert "1/1 accounts" in out.getvalue() and "Recomputed 1 accounts" in out.getvalue()
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No account with external id 'NOPE'"):
        call_command("recompute_scores", "--account", "NOPE")


def test_account_without_any_scorecard_has_no_score(
    account: Account, wau: MetricDefinition
) -> None:
    record_metric_values(values=[MetricValueIn(account.pk, wau.pk, 64, timezone.now())])
    recompute_scores(account_ids=[account.pk])
    account.refresh_from_db()
    assert account.computed_score is None and account.computed_at is not None
    assert not Score.objects.exists()


def test_preview_scores_a_draft_without_writing(
    account: Account, default_scorecard: Scorecard, wau: MetricDefinition, ingest: Ingest
) -> None:
    ingest(account, wau, 40)
    draft = create_scorecard_draft(
        name="Stricter", measures=[MeasureIn(metric_key="wau", weight=1, bad=20, good=60)]
    )
    result = preview_draft(draft=draft, spec=scorecard_spec(draft))
    [change] = result.changes
    assert (change.account_id, change.score, change.band) == (account.pk, 50.0, "yellow")
    assert (change.previous_score, change.previous_band) == (40.0, "yellow")
    account.refresh_from_db()
    assert account.computed_score == 40.0
    assert Score.objects.filter(scorecard=draft).count() == 0
    assert not ScoreEvent.objects.filter(scorecard=draft).exists()


def test_only_people_who_see_the_account_may_override_it(
    account: Account, other_csm: User, manager: User
) -> None:
    from chs_site.errors import PermissionDenied

    expires = timezone.now() + dt.timedelta(days=2)
    with pytest.raises(PermissionDenied):
        override_score(
            account=account, author=other_csm, band="green", reason="x", expires_at=expires
        )
    override_score(
        account=account, author=manager, band="green", reason="Team call.", expires_at=expires
    )
    account.refresh_from_db()
    assert account.health_band == "green"


def test_no_movers_when_history_is_shorter_than_the_period(
    account: Account, default_scorecard: Scorecard, wau: MetricDefinition, ingest: Ingest
) -> None:
    ingest(account, wau, 42)
    ingest(account, wau, 18)
    assert score_movers(account=account, days=30) == []
