"""Page benchmarks: server time of real requests through Django's test client.

* ``portfolio_page``: /portfolio/ on the demo for each role.
* ``pages``: the portfolio, account, task, Today, team, search and export pages at 100 000 accounts.
* ``draft_preview``: the scorecard editor's live preview.

The pages read every app's data (accounts, score history, tasks, playbooks), so their
benches live here, above the apps, like ``chs_site/urls.py``."""

from __future__ import annotations

import datetime as dt
import io
import re
import statistics
import time
from collections.abc import Iterator
from typing import Any

from django.core.cache import cache
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts import demo
from accounts.models import Account, Activity, Role, Team, User, owner_sort_name
from accounts.selectors.access import visible_accounts
from accounts.selectors.portfolio import SORT_KEYS
from chs_site.benchmarks import accounts_option, delete_account_rows, p95, vacuum_tables
from chs_site.startup import freeze_loaded_objects
from playbooks.models import Task
from scoring.bench.validation import VALIDATION_ACCOUNTS, VALIDATION_OUTCOMES, validation_data
from scoring.forms import editor_forms
from scoring.models import Measure, MetricDefinition, MetricValue, Score, Scorecard
from scoring.selectors import preview


def bench_portfolio_page(options: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Render /portfolio/ (first page and a search) for a CSM, a manager and an admin."""
    demo.seed(today=timezone.localdate())
    total = Account.objects.count()
    for username in ("csm1", "manager1", "admin"):
        user = User.objects.get(username=username)
        client = Client()
        client.force_login(user)
        for label, url in (("first_page", "/portfolio/"), ("search", "/portfolio/?q=a")):
            client.get(url)  # warm caches
            runs = 20
            with CaptureQueriesContext(connection) as queries:
                start = time.perf_counter()
                for _ in range(runs):
                    response = client.get(url)
                elapsed = (time.perf_counter() - start) / runs
            assert response.status_code == 200
            yield {
                "bench": "portfolio_page",
                "role": user.role,
                "case": label,
                "accounts_total": total,
                "ms_per_request": round(elapsed * 1000, 2),
                "queries_per_request": len(queries) // runs,
            }


# --- pages at scale --------------------------------------------------------------------------

PAGES_ACCOUNTS = 100_000
HISTORY_WEEKS = 26  # one score row a week for 180 days (rows are written when the score moves)
SAMPLE_ACCOUNTS = 40  # accounts whose page is timed; they also get daily metric values
TODAY_RUNS = 10  # the admin's Today reads every account's signals: fewer, slower runs
PAGES_RUNS = 40  # requests per case; the p95 lies between the 38th and 39th fastest
# What the benchmark creates (and deletes again, also a crashed run's leftovers).
PAGES_PREFIX = "PAGES-"  # + 6 digits
PAGES_USER_PREFIX = "pages-bench-"
PAGES_TEAM_PREFIX = "Pages bench team "
PAGES_SCORECARD = "Pages bench default"
PAGES_METRIC_NOTE = "Created by `bench pages` (deleted with its data)."


def _score_sql(g: str, w: str) -> str:
    """A deterministic score for bench account ``g`` in week ``w`` (0 = 180 days ago): a base
    level, a drift up or down over the half year and a small wobble. Pure SQL, no %."""
    return (
        f"round(LEAST(100, GREATEST(0, mod({g} * 37, 100) + (mod({g} * 13, 21) - 10) * {w} / 25.0"
        f" + mod({g} + {w}, 5)))::numeric, 1)::float"
    )


def _band_sql(score: str, card: Scorecard) -> str:
    """The band ``card`` gives ``score`` (its own thresholds, as the recompute applies them)."""
    red_below, green_at = float(card.red_below), float(card.green_at)
    return (
        f"CASE WHEN {score} < {red_below!r} THEN 'red'"
        f" WHEN {score} >= {green_at!r} THEN 'green' ELSE 'yellow' END"
    )


def build_pages_data(n_accounts: int) -> dict[str, Any]:
    """100 000 accounts over 3 teams of 4 CSMs, 26 weekly score rows each (2.6 M rows), an open
    task on every fifth account, daily metric values and a timeline for the sampled accounts.
    Written with INSERT … SELECT generate_series so the set-up takes seconds, not hours."""
    admin = User.objects.create(
        username=f"{PAGES_USER_PREFIX}admin", role="admin", is_superuser=True
    )
    csms: list[User] = []
    managers: list[User] = []
    for t in range(3):
        manager = User.objects.create(username=f"{PAGES_USER_PREFIX}manager{t}", role="manager")
        team = Team.objects.create(name=f"{PAGES_TEAM_PREFIX}{t}", manager=manager)
        managers.append(manager)
        for c in range(4):
            csms.append(
                User.objects.create(username=f"{PAGES_USER_PREFIX}csm{t}{c}", role="csm", team=team)
            )

    metrics = [
        MetricDefinition.objects.get_or_create(
            key=key, defaults={"name": name, "description": PAGES_METRIC_NOTE}
        )[0]
        for key, name in (("nps", "NPS"), ("csat", "CSAT"), ("active_users", "Active users"))
    ]
    card = Scorecard.objects.filter(segment="", status="active").first()
    if card is None:
        card = Scorecard.objects.create(name=PAGES_SCORECARD, status="active")
        for i, (m, bad, good) in enumerate(zip(metrics, (0, 1, 0), (10, 5, 200), strict=True)):
            Measure.objects.create(
                scorecard=card,
                metric=m,
                weight=1,
                aggregation="latest",
                bad=bad,
                good=good,
                position=i,
            )
    measure = card.measures.select_related("metric").first()
    assert measure is not None

    account_t = Account._meta.db_table
    now_score, then_score = _score_sql("g", str(HISTORY_WEEKS - 1)), _score_sql("g", "20")
    with connection.cursor() as cur:
        cur.execute(
            f"""
            INSERT INTO {account_t} (external_id, name, domain, segment, owner_id, arr,
                renewal_date, lifecycle_stage, created_at, updated_at, health_score, health_band,
                computed_score, computed_band, computed_at, score_change_30d, top_mover,
                owner_sort_name, open_task_count)
            SELECT %s || lpad(g::text, 6, '0'), 'Bench ' || md5(g::text),
                'bench' || g || '.example', (ARRAY['SMB','Mid-Market','Enterprise'])[1 + mod(g, 3)],
                (%s::bigint[])[1 + mod(g, %s)], 1000 + mod(g * 7919, 500000),
                current_date + mod(g, 365), (ARRAY['onboarding','adoption','expansion','renewal'])[1 + mod(g, 4)],
                now(), now(), {now_score}, {_band_sql(now_score, card)}, {now_score}, {_band_sql(now_score, card)},
                now(), {now_score} - {then_score}, 'NPS moved from 8 to ' || mod(g, 9),
                (%s::text[])[1 + mod(g, %s)], 0
            FROM generate_series(1, %s) AS g
            """,
            [
                PAGES_PREFIX,
                [u.pk for u in csms],
                len(csms),
                [owner_sort_name(u) for u in csms],
                len(csms),
                n_accounts,
            ],
        )
        score = _score_sql("substr(a.external_id, 7)::int", "w")
        cur.execute(
            f"""
            INSERT INTO {Score._meta.db_table} (account_id, scorecard_id, score, band, computed_at, breakdown)
            SELECT a.id, %s, {score}, {_band_sql(score, card)},
                now() - make_interval(days => ({HISTORY_WEEKS - 1} - w) * 7),
                jsonb_build_array(jsonb_build_object('metric', %s, 'name', %s, 'aggregation', 'latest',
                    'window_days', 30, 'value', mod(w, 10), 'points', {score}, 'weight', 1,
                    'contribution', {score}, 'stale', false))
            FROM {account_t} a CROSS JOIN generate_series(0, {HISTORY_WEEKS - 1}) AS w
            WHERE a.external_id LIKE %s
            """,
            [card.pk, measure.metric.key, measure.metric.name, f"{PAGES_PREFIX}%"],
        )
        cur.execute(
            f"""
            INSERT INTO {Task._meta.db_table} (account_id, title, description, status, priority,
                due_date, assignee_id, step, snooze_reason, outcome_note, created_at, updated_at)
            SELECT a.id, 'Bench follow-up', '', 'open', 'normal', current_date + (mod(a.id, 20) - 5)::int,
                a.owner_id, 0, '', '', now(), now()
            FROM {account_t} a WHERE a.external_id LIKE %s AND mod(a.id, 5) = 0
            """,
            [f"{PAGES_PREFIX}%"],
        )
        # What playbooks.services keeps when tasks open and close.
        cur.execute(
            f"""
            UPDATE {account_t} a SET open_task_count = t.n
            FROM (SELECT account_id, count(*) AS n FROM {Task._meta.db_table}
                  WHERE status = 'open' GROUP BY account_id) t
            WHERE a.id = t.account_id
            """
        )
    csm = csms[0]
    sample = list(
        Account.objects.filter(owner=csm, external_id__startswith=PAGES_PREFIX).order_by("pk")[
            :SAMPLE_ACCOUNTS
        ]
    )
    now = timezone.now()
    MetricValue.objects.bulk_create(
        [
            MetricValue(
                account=a,
                metric=m,
                value=float((a.pk + d) % 10),
                observed_at=now - dt.timedelta(days=d),
            )
            for a in sample
            for m in metrics
            for d in range(180)
        ],
        batch_size=5000,
    )
    Activity.objects.bulk_create(
        [
            Activity(
                account=a,
                kind=Activity.Kind.FEEDBACK if i % 2 else Activity.Kind.TASK_CREATED,
                occurred_at=now - dt.timedelta(days=i * 3),
                summary=f"Bench event {i}",
            )
            for a in sample
            for i in range(60)
        ],
        batch_size=5000,
    )
    with connection.cursor() as cur:
        for model in (Account, Score, Task, MetricValue, Activity):
            cur.execute(f"ANALYZE {model._meta.db_table}")
    return {
        "users": {"csm": csm, "manager": managers[0], "admin": admin},
        "sample": sample,
        "metric": measure.metric.key,
    }


def _timed(
    client: Client, url: str, runs: int, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    client.get(url, headers=headers or {})  # warm caches
    times: list[float] = []
    queries = 0
    status = 0
    for _ in range(runs):
        with CaptureQueriesContext(connection) as captured:
            start = time.perf_counter()
            response = client.get(url, headers=headers or {})
            if getattr(response, "streaming", False):
                for _chunk in response.streaming_content:  # type: ignore[attr-defined]
                    pass
            times.append((time.perf_counter() - start) * 1000)
        queries = max(queries, len(captured))
        status = response.status_code
    return {
        "status": status,
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(p95(times), 1),
        "max_queries": queries,
        "runs": runs,
    }


def bench_pages(options: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Server time of the portfolio (every filter and sort, each role), the account page
    (with its charts), the task queue, Today, the team dashboard, the global search and the
    CSV export, with 100 000 accounts and 180 days of score history in PostgreSQL. p95 over ``runs`` requests each (Django's test client, so
    no network: server time). Target: portfolio and account page p95 ≤ 100 ms.

    The data is committed and vacuumed, as a production database's tables are (index-only
    scans need the visibility map), and deleted at the end. Inside a transaction (a test),
    it is rolled back with it instead."""
    if connection.vendor != "postgresql":
        yield {"bench": "pages", "skipped": "needs PostgreSQL (set DATABASE_URL)"}
        return
    committed = connection.get_autocommit()
    if committed:
        delete_pages_data()
    try:
        yield from _bench_pages(options)
    finally:
        if committed:
            delete_pages_data()


bench_pages.commits = True  # type: ignore[attr-defined]

PAGES_TABLES = (
    "accounts_account",
    "scoring_score",
    "scoring_scoreevent",
    "playbooks_task",
    "scoring_metricvalue",
    "accounts_activity",
)


def delete_pages_data() -> None:
    accounts = Account.objects.filter(external_id__startswith=PAGES_PREFIX)
    with transaction.atomic():
        if delete_account_rows(accounts, *PAGES_TABLES[1:]):
            accounts.delete()
        Scorecard.objects.filter(name=PAGES_SCORECARD, segment="").delete()
        Team.objects.filter(name__startswith=PAGES_TEAM_PREFIX).delete()
        User.objects.filter(username__startswith=PAGES_USER_PREFIX).delete()
        # The metric definitions it had to create, unless something else uses them now.
        MetricDefinition.objects.filter(description=PAGES_METRIC_NOTE).exclude(
            Exists(MetricValue.objects.filter(metric=OuterRef("pk")))
        ).exclude(measures__isnull=False).delete()


def _bench_pages(options: dict[str, Any]) -> Iterator[dict[str, Any]]:
    n = int(PAGES_ACCOUNTS * float(options.get("scale") or 1.0))
    start = time.perf_counter()
    with transaction.atomic():
        data = build_pages_data(n)
    vacuum_tables(*PAGES_TABLES)
    yield {
        "bench": "pages",
        "case": "setup",
        "accounts_total": Account.objects.count(),
        "score_rows": Score.objects.count(),
        "seconds": round(time.perf_counter() - start, 1),
    }
    # Time requests the way a serving process answers them (chs_site/wsgi.py freezes what
    # it loaded before taking requests), not with the set-up's objects in every full GC.
    freeze_loaded_objects()
    runs = int(options.get("runs") or PAGES_RUNS)
    for role, user in data["users"].items():
        client = Client()
        client.force_login(user)
        in_scope = visible_accounts(user).count()
        cases = [("default", "")]
        cases += [(f"sort {s}", f"?sort={s}") for s in SORT_KEYS if s != "owner" or role != "csm"]
        cases += [(f"sort -{s}", f"?sort=-{s}") for s in SORT_KEYS if s != "owner" or role != "csm"]
        cases += [
            ("band red", "?band=red"),
            ("band red by -arr", "?band=red&sort=-arr"),
            ("segment", "?segment=Enterprise"),
            ("stage", "?stage=renewal"),
            ("renews within 30 d", "?renewal_within=30&sort=renewal"),
            ("dropped >= 10", "?dropped_by=10&sort=trend"),
            ("search", "?q=bench1234"),
            ("search no match", "?q=zzzz"),
            (
                "all filters",
                "?band=yellow&segment=SMB&stage=adoption&renewal_within=180&dropped_by=1&sort=-score",
            ),
            ("page 40", "?page=40"),
            ("htmx table", "?band=red&sort=score"),
        ]
        if role != "csm":
            cases.append(("owner", f"?owner={data['users']['csm'].username}"))
        for label, query in cases:
            yield {
                "bench": "pages",
                "page": "portfolio",
                "role": role,
                "case": label,
                "accounts_in_scope": in_scope,
                **_timed(
                    client,
                    f"/portfolio/{query}",
                    runs,
                    {"HX-Request": "true"} if label == "htmx table" else None,
                ),
            }
    client = Client()
    client.force_login(data["users"]["csm"])
    # The account page (its overview tab) draws its trend and measure charts into itself;
    # the timeline tab reads one page of activities and the score history's moves.
    for label, suffix in (
        ("account page", ""),
        ("timeline tab", "?tab=timeline"),
        ("health fragment", "health/"),
    ):
        times: list[dict[str, Any]] = []
        for account in data["sample"][:runs]:
            url = f"/accounts/{account.external_id}/{suffix}"
            headers = {"HX-Request": "true"} if suffix == "health/" else {}
            client.get(url, headers=headers)
            with CaptureQueriesContext(connection) as captured:
                t0 = time.perf_counter()
                response = client.get(url, headers=headers)
                elapsed = (time.perf_counter() - t0) * 1000
            assert response.status_code == 200, (url, response.status_code)
            times.append({"ms": elapsed, "queries": len(captured)})
        ms = [t["ms"] for t in times]
        yield {
            "bench": "pages",
            "page": "account",
            "role": "csm",
            "case": label,
            "p50_ms": round(statistics.median(ms), 1),
            "p95_ms": round(p95(ms), 1),
            "max_queries": max(t["queries"] for t in times),
            "runs": len(ms),
        }
    for role in ("csm", "manager"):
        client = Client()
        client.force_login(data["users"][role])
        for label, query in (("open", ""), ("all", "?status="), ("htmx filter", "?status=open")):
            yield {
                "bench": "pages",
                "page": "tasks",
                "role": role,
                "case": label,
                **_timed(
                    client,
                    f"/tasks/{query}",
                    runs,
                    {"HX-Request": "true"} if label == "htmx filter" else None,
                ),
            }
    # Today: every signal over the whole scope (an admin's is all 100 000 accounts).
    for role, user in data["users"].items():
        client = Client()
        client.force_login(user)
        cases = [("home", "")]
        if role != "csm":
            cases.append(("one person", f"?owner={data['users']['csm'].username}"))
        for label, query in cases:
            yield {
                "bench": "pages",
                "page": "today",
                "role": role,
                "case": label,
                "accounts_in_scope": visible_accounts(user).count(),
                **_timed(client, f"/today/{query}", min(runs, TODAY_RUNS)),
            }
    # The global search: accounts, contacts and tasks in scope, page and drop-down.
    for role, user in data["users"].items():
        client = Client()
        client.force_login(user)
        search_cases: tuple[tuple[str, str, dict[str, str] | None], ...] = (
            ("results page", "?q=bench1234", None),
            ("drop-down", "?q=bench12", {"HX-Request": "true"}),
            ("no match", "?q=zzzz", None),
        )
        for label, query, hx in search_cases:
            yield {
                "bench": "pages",
                "page": "search",
                "role": role,
                "case": label,
                **_timed(client, f"/search/{query}", runs, hx),
            }
    for role in ("manager", "admin"):
        client = Client()
        client.force_login(data["users"][role])
        cold = []
        for _ in range(3):
            cache.clear()  # the history aggregates are cached for 10 minutes
            t0 = time.perf_counter()
            assert client.get("/team/").status_code == 200
            cold.append((time.perf_counter() - t0) * 1000)
        yield {
            "bench": "pages",
            "page": "team",
            "role": role,
            "case": "dashboard, history cache cold",
            "p50_ms": round(sorted(cold)[1], 1),
            "max_ms": round(max(cold), 1),
            "runs": 3,
        }
        yield {
            "bench": "pages",
            "page": "team",
            "role": role,
            "case": "dashboard, history cache warm",
            **_timed(client, "/team/", 5),
        }
    client = Client()
    client.force_login(data["users"]["manager"])
    yield {
        "bench": "pages",
        "page": "portfolio_export",
        "role": "manager",
        "case": "all rows in scope",
        "rows": visible_accounts(data["users"]["manager"]).count(),
        **_timed(client, "/portfolio/export.csv", 3),
    }


# --- the scorecard editor's live preview -------------------------------------------------


def _editor_post(card: Scorecard, *, weight_factor: float = 1.0) -> dict[str, Any]:
    """The editor form as the browser posts it on every change (the card's measures, the
    first one's weight multiplied by ``weight_factor``, and the empty row for a new one)."""
    _, formset, _ = editor_forms(card)
    n = len(formset.forms)
    data: dict[str, Any] = {
        "name": card.name,
        "red_below": card.red_below,
        "green_at": card.green_at,
        "missing_data": card.missing_data,
        "m-TOTAL_FORMS": n,
        "m-INITIAL_FORMS": n - 1,
        "m-MIN_NUM_FORMS": 0,
        "m-MAX_NUM_FORMS": 30,
        f"m-{n - 1}-aggregation": "latest",
        f"m-{n - 1}-window_days": 30,
    }
    for i, form in enumerate(formset.forms[:-1]):
        for key, value in form.initial.items():
            data[f"m-{i}-{key}"] = value
    data["m-0-weight"] = data["m-0-weight"] * weight_factor
    return data


def _figure(html: str, pattern: str, *, default: int | None = None) -> int:
    """A number the preview shows (the page is what is timed, so the figures come from it)."""
    found = re.search(pattern, html)
    if found is None:
        assert default is not None, f"the preview no longer shows {pattern!r}"
        return default
    return int(found.group(1))


def _time_preview(client: Client, card: Scorecard, label: str) -> Iterator[dict[str, Any]]:
    """The editor's preview request for a draft of ``card``: cold (the first render) and
    with a weight changed (the window stats come from the preview's cache)."""
    response = client.post(reverse("scoring:new_draft", args=[card.pk]))
    assert response.status_code == 302, response.status_code
    draft = Scorecard.objects.get(
        segment=card.segment, status=Scorecard.Status.DRAFT, based_on=card
    )
    url = reverse("scoring:preview", args=[draft.pk])
    preview.clear_cache()
    for case, factor in (("cold", 1.0), ("weight_changed", 3.0)):
        data = _editor_post(draft, weight_factor=factor)
        with CaptureQueriesContext(connection) as queries:
            start = time.perf_counter()
            response = client.post(url, data, headers={"HX-Request": "true"})
            seconds = time.perf_counter() - start
        assert response.status_code == 200, response.status_code
        html = response.content.decode()
        assert "Fix the highlighted values" not in html, html[:500]
        yield {
            "bench": "draft_preview",
            "data": label,
            "case": case,
            "accounts": _figure(html, r"\((\d+) accounts? in this segment"),
            "accounts_changing_band": _figure(html, r'id="preview-moved">(\d+)<'),
            "playbook_tasks": _figure(html, r'id="preview-tasks">(\d+)<'),
            "outcomes": _figure(html, r"(\d+) outcomes, \d+ churned", default=0),
            "seconds": round(seconds, 3),
            "queries": len(queries),
        }


def bench_draft_preview(options: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The live preview of a draft as an admin edits it (distribution, band changes,
    playbook tasks, backtest, charts: the whole POST the editor sends) on the 600-account
    demo and on 10 000 synthetic accounts. The whole demo company, its playbooks too, so
    the preview has enabled playbooks to ask what they would do."""
    call_command("seed_demo", "--quiet-logins", stdout=io.StringIO())
    admin = User.objects.create(username="bench-preview-admin", role=Role.ADMIN)
    client = Client()
    client.force_login(admin)
    card = Scorecard.objects.get(segment="", status=Scorecard.Status.ACTIVE)
    yield from _time_preview(client, card, "demo")
    n = accounts_option(options, [VALIDATION_ACCOUNTS])[-1]
    data = validation_data(n, outcomes=VALIDATION_OUTCOMES)
    yield from _time_preview(client, data["true"], "synthetic")


BENCHMARKS = [bench_portfolio_page, bench_pages, bench_draft_preview]
