"""Celery tasks of the scoring app: one-line wrappers around services.

All are idempotent (the dirty table is the truth, history rows are written only on change)
and retry only transient database/broker errors."""

from __future__ import annotations

from celery import group, shared_task

from chs_site.celery import RETRY_TRANSIENT, TRANSIENT_ERRORS
from scoring.services import backfill, dirty, events, overrides, recompute, segment_rollup

TRANSIENT = TRANSIENT_ERRORS
MAX_BATCHES_PER_RUN = 50


@shared_task(
    name="scoring.tasks.recompute_dirty",
    ignore_result=True,
    soft_time_limit=600,
    time_limit=660,
    **RETRY_TRANSIENT,
)
def recompute_dirty() -> int:
    """Recompute every dirty account in batches (the coalesced ingest task)."""
    dirty.clear_pending_flag()
    result = recompute.recompute_dirty_accounts(max_batches=MAX_BATCHES_PER_RUN)
    if result.batches >= MAX_BATCHES_PER_RUN:
        # Under a steady stream of ingests, hand over instead of running forever.
        dirty.schedule_recompute()
    return result.accounts


@shared_task(
    name="scoring.tasks.sweep_dirty",
    ignore_result=True,
    soft_time_limit=600,
    time_limit=660,
    **RETRY_TRANSIENT,
)
def sweep_dirty() -> int:
    """Every minute (beat): whatever is still dirty (lost message, Redis outage), and
    accounts whose override has just expired."""
    overrides.expire_overrides()
    return recompute.recompute_dirty_accounts().accounts


@shared_task(
    name="scoring.tasks.recompute_chunk",
    ignore_result=True,
    soft_time_limit=900,
    time_limit=960,
    **RETRY_TRANSIENT,
)
def recompute_chunk(first_id: int, last_id: int) -> int:
    """One chunk of the nightly full recompute: accounts with first_id ≤ id ≤ last_id."""
    return recompute.recompute_account_range(first_id=first_id, last_id=last_id).accounts


@shared_task(
    name="scoring.tasks.nightly_recompute",
    ignore_result=True,
    soft_time_limit=120,
    time_limit=180,
    **RETRY_TRANSIENT,
)
def nightly_recompute() -> int:
    """Nightly: every account (time passing makes data stale and moves windows), split into
    id-range chunks that several workers share (a Celery group). The accounts are leased
    first (``recompute.lease_nightly_chunks``): a chunk lost with its worker is swept."""
    chunks = recompute.account_id_chunks()
    if chunks:
        recompute.lease_nightly_chunks()
        group(recompute_chunk.s(a, b) for a, b in chunks).apply_async()
    return len(chunks)


@shared_task(
    name="scoring.tasks.run_backfill",
    ignore_result=True,
    soft_time_limit=1800,
    time_limit=1860,
    autoretry_for=TRANSIENT,
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=3,
)
def run_backfill(job_id: int) -> int:
    """Rewrite history with a scorecard version (progress in the BackfillJob row)."""
    return int(backfill.run_backfill(job_id=job_id).rows_written)


@shared_task(
    name="scoring.tasks.fit_churn_model",
    ignore_result=True,
    soft_time_limit=600,
    time_limit=660,
    autoretry_for=TRANSIENT,
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=3,
)
def fit_churn_model(only_if_new_outcomes: bool = False) -> str:
    """Refit the churn-risk model (on demand, and after outcomes arrive)."""
    from scoring import validation

    return validation.refit_churn_model(only_if_new_outcomes=only_if_new_outcomes)


@shared_task(
    name="scoring.tasks.prune_score_events",
    ignore_result=True,
    soft_time_limit=600,
    time_limit=660,
    **RETRY_TRANSIENT,
)
def prune_score_events() -> int:
    """Daily: processed score events older than the retention period."""
    return events.prune_score_events()


@shared_task(
    name="scoring.tasks.rollup_segment",
    ignore_result=True,
    soft_time_limit=600,
    time_limit=660,
    **RETRY_TRANSIENT,
)
def rollup_segment() -> int:
    """Staged Segment events → daily metric values (nudged on commit of each request and
    run by beat every minute); hands over to a new task under a steady stream."""
    segment_rollup.clear_rollup_flag()
    result = segment_rollup.rollup_segment_events(max_batches=MAX_BATCHES_PER_RUN)
    if result.batches >= MAX_BATCHES_PER_RUN:
        segment_rollup.schedule_rollup()
    return result.events


@shared_task(
    name="scoring.tasks.prune_segment",
    ignore_result=True,
    soft_time_limit=600,
    time_limit=660,
    **RETRY_TRANSIENT,
)
def prune_segment() -> int:
    """Daily: Segment message ids past the dedupe window, daily rows past retention."""
    return sum(segment_rollup.prune_segment_data())
