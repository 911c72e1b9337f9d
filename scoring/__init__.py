"""The scoring app: metric values in, health scores out, and whether they predict churn.

Owns metric definitions and values, scorecards (versioned), the pure score engine
(``engine.py``, the only home of the formula), the recompute, score history, overrides,
outcomes, validation and the churn-risk model, feedback that becomes metrics, and scoring's
CSV importers. Imports accounts, never playbooks: what changed goes up as ``ScoreEvent``
rows (the outbox, ``services/events.py``) that playbooks claim.

A new measure aggregation goes into ``engine.py`` and ``selectors/window_stats.py`` (the
recompute's SQL reader); a new importer into ``importers.py``, registered in
``ScoringConfig.ready``; a new endpoint into ``api.py``; shapes other apps read into
``contracts.py``."""
