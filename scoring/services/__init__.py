"""Writes of the scoring app, one module per idea.

The loop: ``values`` stores metric values and marks their accounts dirty in the same
transaction (``dirty``) → on commit one coalesced ``recompute_dirty`` task is asked for →
``recompute`` claims dirty accounts in batches, scores them with ``scoring.engine`` and
writes history, timeline lines and account health (``history``) and one score event per
changed account (``events``, the outbox the playbooks claim) in the batch's transaction.

Also here: ``ingest`` (API/CSV validation of metric values), ``feedback`` (feedback that
becomes metrics and detractor events), ``scorecards`` (drafts, publish, roll back),
``overrides``, ``outcomes`` and ``backfill``. Services are keyword-only, write in one
transaction and raise ``chs_site.errors.ApplicationError``; they import accounts (below)
and never playbooks (above): news goes up as ``ScoreEvent`` rows."""
