"""Backfill: rewrite the last N days of score history with the active version, as if it
had been active then: a Celery job whose row the page polls, or, without a worker (the
embedded default), steps the job page asks for one after the other."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.services.audit import Action, ObjectType, record_audit
from chs_site.celery import runs_in_process, send_on_commit
from chs_site.errors import ApplicationError, ValidationFailed
from chs_site.sql import BULK_BATCH
from scoring import engine
from scoring.models import BackfillJob, MetricValue, Score, Scorecard
from scoring.selectors.backfill import backfill_period
from scoring.selectors.scorecards import matched_accounts, metric_ids_by_key, scorecard_spec
from scoring.services.scorecards import audit_label, check_scorecard_editor

BACKFILL_MAX_DAYS = 365
BACKFILL_CHUNK = 250
# Accounts per step when the page drives the job (no worker): about a second a step for
# 90 days of history, so the progress bar moves and no request runs long.
BACKFILL_STEP_CHUNK = 25


@transaction.atomic
def start_backfill(*, scorecard: Scorecard, days: int, author: Any) -> Any:
    """Queue a job that rewrites the last ``days`` days of score history of the accounts the
    (active) version scores, one point per day, as if it had been active then."""
    from scoring.tasks import run_backfill

    check_scorecard_editor(author)
    if scorecard.status != Scorecard.Status.ACTIVE:
        raise ApplicationError("Only the active version can backfill history; publish it first.")
    if not isinstance(days, int) or not 1 <= days <= BACKFILL_MAX_DAYS:
        raise ValidationFailed(
            f"Backfill 1 to {BACKFILL_MAX_DAYS} days.",
            errors=[{"field": "days", "reason": f"must be 1–{BACKFILL_MAX_DAYS}"}],
        )
    # A job older than the task's time limit died with its worker; it no longer blocks.
    running = BackfillJob.objects.filter(
        scorecard__segment=scorecard.segment,
        status__in=[BackfillJob.Status.QUEUED, BackfillJob.Status.RUNNING],
        created_at__gte=timezone.now() - timedelta(hours=1),
    ).first()
    if running is not None:
        raise ApplicationError("A backfill for this segment is already running; wait for it.")
    job = BackfillJob.objects.create(
        scorecard=scorecard,
        days=days,
        total=matched_accounts(scorecard.segment).count(),
        created_by=author,
    )
    record_audit(
        action=Action.STARTED,
        object_type=ObjectType.BACKFILL,
        obj=job,
        label=audit_label(scorecard),
        actor=author,
        changes={"days": [None, days], "accounts": [None, job.total]},
    )
    if not runs_in_process():
        send_on_commit(run_backfill, job.pk)
    # Without a worker the job page runs it step by step (``run_backfill_step``): sent
    # in-process, the whole backfill would run inside this request.
    return job


def backfill_moments(*, days: int, today: date) -> list[datetime]:
    """Noon UTC of each of the last ``days`` days before today (today keeps its live row)."""
    midnight = datetime.combine(today, datetime.min.time(), tzinfo=UTC)
    return [midnight - timedelta(days=k) + timedelta(hours=12) for k in range(days, 0, -1)]


@dataclass(frozen=True)
class _Plan:
    """What every chunk of one job shares: the version's spec and the moments to score."""

    spec: engine.ScorecardSpec
    moments: list[datetime]
    period_start: datetime
    period_end: datetime
    key_by_id: dict[int, str]
    longest: int


def _plan(job: BackfillJob) -> _Plan:
    spec = scorecard_spec(job.scorecard)
    today = timezone.now().date()
    period_start, period_end = backfill_period(days=job.days, today=today)
    metric_ids = metric_ids_by_key(m.metric for m in spec.measures)
    return _Plan(
        spec=spec,
        moments=backfill_moments(days=job.days, today=today),
        period_start=period_start,
        period_end=period_end,
        key_by_id={v: k for k, v in metric_ids.items()},
        longest=max((m.window_days for m in spec.measures), default=1),
    )


def _job_account_ids(job: BackfillJob) -> list[int]:
    return list(matched_accounts(job.scorecard.segment).order_by("id").values_list("id", flat=True))


def _write_chunk(job: BackfillJob, plan: _Plan, chunk: list[int]) -> int:
    """Score the chunk's accounts on every day and replace their history rows in the period
    with a row per change; the caller holds the transaction. Returns the rows written."""
    values = MetricValue.objects.filter(
        account_id__in=chunk,
        metric_id__in=plan.key_by_id,
        observed_at__gt=plan.moments[0] - timedelta(days=2 * plan.longest),
        observed_at__lte=plan.moments[-1],
    ).values_list("account_id", "metric_id", "observed_at", "value")
    index = engine.SeriesIndex((a, plan.key_by_id[m], t, v) for a, m, t, v in values)
    rows: list[Score] = []
    for account_id in chunk:
        previous: engine.ScoreResult | None = None
        for at in plan.moments:
            result = index.score(account_id, plan.spec, at=at)
            if previous is not None and (result.score, result.band, result.measures) == (
                previous.score,
                previous.band,
                previous.measures,
            ):
                continue
            previous = result
            rows.append(
                Score(
                    account_id=account_id,
                    scorecard_id=job.scorecard_id,
                    score=result.score,
                    band=result.band,
                    computed_at=at,
                    breakdown=result.breakdown(),
                )
            )
    Score.objects.filter(
        account_id__in=chunk,
        computed_at__gte=plan.period_start,
        computed_at__lt=plan.period_end,
    ).delete()
    Score.objects.bulk_create(rows, batch_size=BULK_BATCH)
    return len(rows)


def _fail(job_id: int, exc: Exception) -> None:
    BackfillJob.objects.filter(pk=job_id).update(
        status=BackfillJob.Status.FAILED, finished_at=timezone.now(), error=str(exc)[:2000]
    )


def run_backfill(*, job_id: int, chunk_size: int = BACKFILL_CHUNK) -> Any:
    """The worker's job: claimed with a conditional UPDATE (queued → running; a duplicate
    message finds nothing to claim), then account chunks, each one transaction: load the
    chunk's values once, score every day with the engine (``SeriesIndex``), replace the
    chunk's history rows in the period with a row per change, and advance the progress
    counter."""

    claimed = BackfillJob.objects.filter(pk=job_id, status=BackfillJob.Status.QUEUED).update(
        status=BackfillJob.Status.RUNNING, started_at=timezone.now()
    )
    job = BackfillJob.objects.select_related("scorecard").get(pk=job_id)
    if claimed != 1:
        return job
    try:
        plan = _plan(job)
        ids = _job_account_ids(job)
        job.total = len(ids)
        job.save(update_fields=["total"])
        for start in range(0, len(ids), chunk_size):
            chunk = ids[start : start + chunk_size]
            with transaction.atomic():
                written = _write_chunk(job, plan, chunk)
                BackfillJob.objects.filter(pk=job.pk).update(
                    done=F("done") + len(chunk), rows_written=F("rows_written") + written
                )
        BackfillJob.objects.filter(pk=job.pk).update(
            status=BackfillJob.Status.DONE, finished_at=timezone.now(), done=len(ids)
        )
    except Exception as exc:
        _fail(job.pk, exc)
        raise
    job.refresh_from_db()
    return job


def run_backfill_step(*, job_id: int, chunk_size: int = BACKFILL_STEP_CHUNK) -> BackfillJob:
    """One chunk of a job no worker runs (the embedded default, tasks in-process): the job
    page asks for the next step until the job is done, so no request blocks for the whole
    backfill and the progress bar moves. Steps are serialised by a lock on the job row (on
    SQLite by its single writer); a step of a finished job changes nothing. The accounts
    are taken in id order from ``done`` on: an account added meanwhile at most shifts a
    chunk by one, and rewriting an account twice writes the same rows."""
    try:
        with transaction.atomic():
            job = BackfillJob.objects.select_for_update().select_related("scorecard").get(pk=job_id)
            if job.finished:
                return job
            fields = ["total", "done", "rows_written"]
            if job.status == BackfillJob.Status.QUEUED:
                job.status, job.started_at = BackfillJob.Status.RUNNING, timezone.now()
                fields += ["status", "started_at"]
            ids = _job_account_ids(job)
            chunk = ids[job.done : job.done + chunk_size]
            job.rows_written += _write_chunk(job, _plan(job), chunk) if chunk else 0
            job.total, job.done = len(ids), min(len(ids), job.done + len(chunk))
            if job.done >= job.total:
                job.status, job.finished_at = BackfillJob.Status.DONE, timezone.now()
                fields += ["status", "finished_at"]
            job.save(update_fields=list(dict.fromkeys(fields)))
    except Exception as exc:
        _fail(job_id, exc)
        raise
    return job
