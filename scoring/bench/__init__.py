"""Scoring's benchmarks, one module per idea: the nightly recompute and the engine
(``recompute``), ingest → stored score on a real worker (``latency``), the validation
page's backtest and suggested weights (``validation``), metric values through the API and
CSV (``ingest``), Segment batches accepted and rolled up
(``segment``). ``python manage.py bench --list`` names them."""

from __future__ import annotations

from scoring.bench import ingest, latency, recompute, segment, validation

BENCHMARKS = [
    *recompute.BENCHMARKS,
    *latency.BENCHMARKS,
    *validation.BENCHMARKS,
    *ingest.BENCHMARKS,
    *segment.BENCHMARKS,
]
