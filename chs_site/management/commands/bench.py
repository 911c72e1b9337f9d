"""``python manage.py bench``: performance figures, one JSON line per figure.

Each bench module has ``BENCHMARKS``: a list of functions that take the command's options
and yield dicts ({"bench": name, ...figures}): the pages (``chs_site.bench_pages``, they
read every app), ``scoring.bench``, ``playbooks.bench`` and the whole stack under load
(``chs_site.bench_load``). The command lives in chs_site,
above the apps, because it runs all of them. Benchmarks build their own data inside a
transaction that is rolled back, so they can run against any database without leaving
anything behind; those marked ``commits`` (real workers read committed rows) delete their
own. Compare ratios within one run, not absolute times across machines.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction

from chs_site import bench_load, bench_pages
from playbooks import bench as playbooks_bench
from scoring import bench as scoring_bench

BENCH_MODULES = (bench_pages, scoring_bench, playbooks_bench, bench_load)

Benchmark = Callable[[dict[str, Any]], Iterable[dict[str, Any]]]


class _Rollback(Exception):
    pass


def collect() -> dict[str, Benchmark]:
    found: dict[str, Benchmark] = {}
    for module in BENCH_MODULES:
        for fn in module.BENCHMARKS:
            found[fn.__name__.removeprefix("bench_")] = fn
    return found


class Command(BaseCommand):
    help = "Run the performance benchmarks; prints one JSON line per figure."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("names", nargs="*", help="Run only these benchmarks.")
        parser.add_argument("--scale", type=float, default=1.0, help="Multiply data sizes.")
        parser.add_argument("--list", action="store_true", help="List the benchmarks.")
        parser.add_argument(
            "--workers",
            type=int,
            help="Celery worker processes for benchmarks that start workers (default: cores).",
        )
        parser.add_argument(
            "--accounts", help="Account counts for benchmarks that take them, e.g. 10000,50000."
        )
        parser.add_argument(
            "--events", type=int, help="Segment events to send (segment; default 200 000)."
        )
        parser.add_argument(
            "--batch",
            type=int,
            help="Messages per Segment batch (segment; default 100, as Segment's libraries send;"
            " the HTTP API takes up to 500 KB, about 800 of the bench's messages).",
        )
        parser.add_argument("--runs", type=int, help="Requests per timed case (pages; default 40).")
        parser.add_argument(
            "--seconds", type=float, help="How long the load runs (load; default 60)."
        )
        parser.add_argument("--sessions", type=int, help="Browsing sessions (load; default 50).")
        parser.add_argument(
            "--api-clients", type=int, help="Ingesting API clients (load; default 5)."
        )
        parser.add_argument(
            "--think-time",
            type=float,
            help="Seconds a session pauses between actions (load; default 1, 0 = flat out).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        benchmarks = collect()
        if options["list"]:
            for name in benchmarks:
                self.stdout.write(name)
            return
        unknown = set(options["names"]) - set(benchmarks)
        if unknown:
            raise CommandError(f"Unknown benchmark(s): {', '.join(sorted(unknown))}")
        chosen = options["names"] or list(benchmarks)
        self._emit(
            {
                "bench": "environment",
                "database": connection.vendor,
                "eager_tasks": bool(settings.CELERY_TASK_ALWAYS_EAGER),
                "python": platform.python_version(),
                "machine": platform.machine(),
            }
        )
        for name in chosen:
            if getattr(benchmarks[name], "commits", False):
                # It needs committed rows (a real worker reads them) and cleans up itself.
                for figure in benchmarks[name](options):
                    self._emit(figure)
                continue
            try:
                with transaction.atomic():
                    for figure in benchmarks[name](options):
                        self._emit(figure)
                    raise _Rollback
            except _Rollback:
                pass

    def _emit(self, figure: dict[str, Any]) -> None:
        self.stdout.write(json.dumps(figure, default=str))
        self.stdout.flush()
