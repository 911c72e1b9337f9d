"""Reads that need permission. Every page, API endpoint and query that touches accounts
goes through ``visible_accounts`` (DESIGN.md's role table lives here and only here)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, overload

from django.core.cache import cache
from django.db import connection
from django.db.models import (
    Avg,
    Count,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    Window,
)
from django.db.models.expressions import OrderBy
from django.db.models.functions import Coalesce, Lag, NullIf, TruncDate, TruncQuarter
from django.http import Http404
from django.utils import timezone

from accounts.models import (
    Account,
    AccountSearch,
    Activity,
    ApiToken,
    ImportJob,
    Role,
    Team,
    User,
    band_rank,
    owner_sort_name,
)
from playbooks.models import Task, TaskStatus
from scoring.models import DirtyAccount, MetricValue, Score, ScoreOverride


def visible_accounts(user: User) -> QuerySet[Account]:
    """Accounts ``user`` may see: a CSM their own book, a manager their teams' books
    (and any account they own themselves), an admin everything."""
    if not user.is_authenticated or not user.is_active:
        return Account.objects.none()
    if user.is_admin:
        return Account.objects.all()
    if user.role == Role.MANAGER:
        # owner IN (literal ids of the team's people, one tiny query): PostgreSQL then knows
        # how many accounts match from its statistics and reads a sorted first page from an
        # index, where a join or subquery made it fetch and sort the whole team's book.
        team = list(
            User.objects.filter(Q(team__manager=user) | Q(pk=user.pk)).values_list("pk", flat=True)
        )
        return Account.objects.filter(owner_id__in=team)
    return Account.objects.filter(owner=user)


def get_account_for_user(user: User, external_id: str) -> Account:
    """The account, or 404 when it does not exist *or* is outside the user's scope
    (an outsider cannot tell the two apart)."""
    if "\x00" in external_id:  # no such id can exist; PostgreSQL refuses NUL in text
        raise Http404("No such account.")
    try:
        return visible_accounts(user).select_related("owner").get(external_id=external_id)
    except Account.DoesNotExist:
        raise Http404("No such account.") from None


def visible_users(user: User) -> QuerySet[User]:
    """People ``user`` may see and assign work to: self for a CSM, the team for a manager,
    everyone for an admin."""
    if user.is_admin:
        return User.objects.filter(is_active=True)
    if user.role == Role.MANAGER:
        return User.objects.filter(Q(team__manager=user) | Q(pk=user.pk), is_active=True)
    return User.objects.filter(pk=user.pk)


def managed_teams(user: User) -> QuerySet[Team]:
    if user.is_admin:
        return Team.objects.all()
    if user.role == Role.MANAGER:
        return Team.objects.filter(manager=user)
    return Team.objects.none()


def can_manage_account(user: User, account: Account) -> bool:
    """Assign/reassign tasks and owners: managers within their team, admins anywhere."""
    if user.is_admin:
        return True
    return user.role == Role.MANAGER and visible_accounts(user).filter(pk=account.pk).exists()


# --- portfolio -----------------------------------------------------------------------------


BAND_FILTERS = {"red": "red", "yellow": "yellow", "green": "green", "none": ""}

# Sort keys the portfolio offers (the column headers link to them; "-key" reverses).
SORT_KEYS = ("account", "band", "score", "trend", "mover", "arr", "renewal", "tasks", "owner")


@dataclass(frozen=True)
class PortfolioQuery:
    search: str = ""
    band: str = ""
    segment: str = ""
    stage: str = ""
    renewal_within: int | None = None
    dropped_by: float | None = None
    owner: str = ""
    sort: str = "account"

    @property
    def sort_key(self) -> str:
        return self.sort.removeprefix("-")

    @property
    def descending(self) -> bool:
        return self.sort.startswith("-")


def portfolio_filtered(
    user: User, query: PortfolioQuery | None = None, *, today: dt.date | None = None
) -> QuerySet[Account]:
    """The user's book with the portfolio's filters, nothing else: what the page counts
    for its pagination (no per-row extras, no join, so PostgreSQL counts from an index
    instead of wrapping the sorted, grouped query in a subquery)."""
    query = query or PortfolioQuery()
    today = today or timezone.localdate()
    qs = visible_accounts(user)
    if query.search:
        # Name, external id or domain: one line each of the search document, and line
        # breaks in the text searched become spaces, so a match never spans two of them.
        # PostgreSQL reads the document's trigram index.
        text = query.search.replace("\r", " ").replace("\n", " ")
        qs = qs.filter(
            pk__in=AccountSearch.objects.filter(document__icontains=text).values("account_id")
        )
    if query.band in BAND_FILTERS:
        qs = qs.filter(health_band=BAND_FILTERS[query.band])
    if query.segment:
        qs = qs.filter(segment=query.segment)
    if query.stage:
        qs = qs.filter(lifecycle_stage=query.stage)
    if query.renewal_within is not None:
        qs = qs.filter(
            renewal_date__gte=today,
            renewal_date__lte=today + dt.timedelta(days=query.renewal_within),
        )
    if query.dropped_by is not None:
        qs = qs.filter(score_change_30d__lte=-query.dropped_by)
    if query.owner:
        qs = qs.filter(owner__username=query.owner)
    return qs


def portfolio_accounts(
    user: User,
    query: PortfolioQuery | None = None,
    *,
    today: dt.date | None = None,
    filtered: QuerySet[Account] | None = None,
) -> QuerySet[Account]:
    """The user's book filtered and sorted as the portfolio page and its CSV export show it.
    Everything filters and sorts on indexed ``Account`` columns, including the two that
    come from other tables (``open_task_count``, ``owner_sort_name``: denormalised, as a
    count or a join cannot be read from an index in order). ``filtered`` is
    ``portfolio_filtered(user, query)`` when the caller already has it."""
    query = query or PortfolioQuery()
    qs = portfolio_filtered(user, query, today=today) if filtered is None else filtered
    key, desc = query.sort_key, query.descending
    if key not in SORT_KEYS:
        key, desc = "account", False

    def nullable(name: str) -> OrderBy:
        # Blanks last both ways (indexes exist for both directions).
        return F(name).desc(nulls_last=True) if desc else F(name).asc(nulls_last=True)

    def plain(expr: Any) -> OrderBy:
        # NOT NULL columns: plain ASC/DESC, so a backward index scan serves the descending
        # sort (PostgreSQL matches NULLS FIRST/LAST exactly, even on NOT NULL columns).
        e = expr if hasattr(expr, "asc") else F(expr)
        return e.desc() if desc else e.asc()

    # The per-row extra is a correlated subquery: PostgreSQL evaluates it after the sort and
    # LIMIT (only for the 50 rows shown), and COUNT(*) drops it.
    now = timezone.now()
    qs = qs.select_related("owner").annotate(
        overridden=Exists(
            ScoreOverride.objects.filter(
                account=OuterRef("pk"), revoked_at__isnull=True, expires_at__gt=now
            )
        ),
    )
    mover = NullIf(F("top_mover"), Value(""))  # blank = no mover: last
    owner = NullIf(F("owner_sort_name"), Value(""))  # blank = unowned: last
    order: dict[str, list[OrderBy]] = {
        "account": [plain("name")],
        "band": [plain(band_rank()), plain("health_score")],
        "score": [nullable("health_score")],
        "trend": [nullable("score_change_30d")],
        "mover": [mover.desc(nulls_last=True) if desc else mover.asc(nulls_last=True)],
        "arr": [plain("arr")],
        "renewal": [nullable("renewal_date")],
        "tasks": [plain("open_task_count")],
        "owner": [owner.desc(nulls_last=True) if desc else owner.asc(nulls_last=True)],
    }
    if key == "account":
        return qs.order_by(plain("name"), plain("pk"))  # served by the (name, id) index
    # Ties (many accounts share a band or a score) by name; PostgreSQL sorts each group of
    # equal keys read from the index (incremental sort), not the whole book.
    return qs.order_by(*order[key], "name", "pk")


class OwnerSortedBook:
    """The filtered book sorted by owner, as the paginator reads it (``count()`` and a
    slice per page).

    One index cannot serve the owner sort for a *part* of the book: a manager's team or
    one owner's accounts are spread over the (owner, name) order of the whole table, so
    PostgreSQL read past every other team's accounts first (60-145 ms for a page whose
    owners sort last). Accounts of one owner, though, come ordered by name from the
    (owner, name) index. So the book is taken as blocks of accounts per owner, ordered by
    ``owner_sort_name``: one grouped count per owner (an index-only scan that also gives
    the paginator its total, so no extra COUNT) and the owners' names (a few rows) say
    which blocks a page spans, and the page reads just those blocks, each from its offset.
    People with the same name share a block (the sort cannot tell them apart either)."""

    ordered = True  # Paginator's warning about unordered object lists

    @staticmethod
    def serves(user: User, query: PortfolioQuery) -> bool:
        """Sorted by owner over part of the book (a team's, or one owner's). The whole
        book (an admin without an owner filter) reads the global owner index directly."""
        return query.sort_key == "owner" and (bool(query.owner) or not user.is_admin)

    def __init__(
        self, accounts: QuerySet[Account], filtered: QuerySet[Account], *, descending: bool
    ) -> None:
        self._accounts = accounts  # portfolio_accounts(): annotated and sorted by owner
        self._filtered = filtered
        self._descending = descending
        self._blocks: list[tuple[list[int | None], int]] | None = None

    def blocks(self) -> list[tuple[list[int | None], int]]:
        """(owner ids, accounts) per owner name, in sort order; unowned last."""
        if self._blocks is None:
            counts: dict[int | None, int] = dict(
                self._filtered.order_by().values_list("owner_id").annotate(n=Count("*"))
            )
            people = User.objects.filter(pk__in=[pk for pk in counts if pk is not None])
            by_key: dict[str, list[int | None]] = {}
            for person in people.only("pk", "username", "first_name", "last_name"):
                by_key.setdefault(owner_sort_name(person), []).append(person.pk)
            keys = sorted((k for k in by_key if k), reverse=self._descending)
            if None in counts:
                by_key.setdefault("", []).append(None)
                keys.append("")
            self._blocks = [(by_key[k], sum(counts[pk] for pk in by_key[k])) for k in keys]
        return self._blocks

    def count(self) -> int:
        return sum(n for _, n in self.blocks())

    def __len__(self) -> int:
        return self.count()

    def __iter__(self) -> Iterator[Account]:
        return iter(self[0 : self.count()])

    @overload
    def __getitem__(self, index: int) -> Account: ...

    @overload
    def __getitem__(self, index: slice) -> list[Account]: ...

    def __getitem__(self, index: int | slice) -> Account | list[Account]:
        if isinstance(index, int):
            return self[index : index + 1][0]
        assert index.step is None and (index.start or 0) >= 0, "pages are forward slices"
        start, stop = index.start or 0, index.stop if index.stop is not None else self.count()
        spans: list[tuple[list[int | None], int, int]] = []  # owners, first row, last row
        seen = 0
        for owners, n in self.blocks():
            if seen + n > start and seen < stop:
                spans.append((owners, max(start - seen, 0), min(stop - seen, n)))
            seen += n
        if not spans:
            return []
        if len(spans) == 1:  # the usual page: inside one owner's block
            owners, lo, hi = spans[0]
            return list(self._accounts.filter(self._owned_by(owners)).order_by("name", "pk")[lo:hi])
        if not connection.features.supports_slicing_ordering_in_compound:
            # SQLite cannot combine sliced queries; its books are small enough to sort: the
            # spanned blocks' rows in the sort's order, from the first block's offset.
            owners_all = [pk for owners, _, _ in spans for pk in owners]
            skip = spans[0][1]
            qs = self._accounts.filter(self._owned_by(owners_all))
            return list(qs[skip : skip + (stop - start)])
        parts = [
            self._accounts.filter(self._owned_by(owners))
            .annotate(block=Value(i))
            .order_by("name", "pk")[lo:hi]
            for i, (owners, lo, hi) in enumerate(spans)
        ]
        return list(parts[0].union(*parts[1:], all=True).order_by("block", "name", "pk"))

    @staticmethod
    def _owned_by(owners: list[int | None]) -> Q:
        ids = [pk for pk in owners if pk is not None]
        q = Q(owner_id__in=ids) if ids else Q(pk__in=[])
        return q | Q(owner__isnull=True) if None in owners else q


def score_points_since(
    accounts: list[Account], *, since: dt.datetime
) -> dict[int, list[tuple[dt.datetime, float]]]:
    """Score steps since ``since`` for a page of accounts from ONE query. The value in force
    when the window opened comes from the denormalised ``score_change_30d`` (computed score
    now minus 30 days ago), so no second lookup per account is needed."""
    by_account: dict[int, list[tuple[dt.datetime, float]]] = {a.pk: [] for a in accounts}
    for a in accounts:
        if a.computed_score is not None and a.score_change_30d is not None:
            by_account[a.pk].append((since, round(a.computed_score - a.score_change_30d, 1)))
    rows = (
        Score.objects.filter(
            account_id__in=list(by_account), computed_at__gt=since, score__isnull=False
        )
        .order_by("account_id", "computed_at")
        .values_list("account_id", "computed_at", "score")
    )
    for account_id, at, score in rows:
        if score is not None:
            by_account[account_id].append((at, score))
    return by_account


SEGMENT_SIZES_TTL = 120  # seconds; the filter's choices and the heading may lag that much


def segment_sizes(user: User) -> dict[str, int]:
    """Accounts per segment in the user's book (the segment filter's choices and the book's
    size in the heading). Counting a 100 000-account book on every page view costs more
    than the rest of the page, so it is cached briefly per user; the table's own count is
    always exact."""
    key = f"chs:segment-sizes:{user.pk}"
    cached = cache.get(key)
    if cached is not None:
        return dict(cached)
    rows = visible_accounts(user).order_by().values_list("segment").annotate(n=Count("pk"))
    sizes = dict(rows)
    cache.set(key, sizes, SEGMENT_SIZES_TTL)
    return sizes


def portfolio_owners(user: User) -> QuerySet[User]:
    """People whose books the user may filter the portfolio by."""
    return (
        visible_users(user)
        .filter(role__in=[Role.CSM, Role.MANAGER])
        .order_by("first_name", "last_name", "username")
    )


# --- account page ----------------------------------------------------------------------------


def is_recompute_pending(account: Account) -> bool:
    """The account waits for a recompute while it has a dirty marker."""
    return DirtyAccount.objects.filter(account=account).exists()


def active_override(account: Account, *, now: dt.datetime | None = None) -> ScoreOverride | None:
    now = now or timezone.now()
    return (
        ScoreOverride.objects.filter(account=account, revoked_at__isnull=True, expires_at__gt=now)
        .select_related("author")
        .order_by("-created_at")
        .first()
    )


def latest_score(account: Account) -> Score | None:
    return (
        Score.objects.filter(account=account)
        .select_related("scorecard")
        .order_by("-computed_at")
        .first()
    )


def score_history_points(
    account: Account, *, since: dt.datetime
) -> list[tuple[dt.datetime, float | None, str]]:
    """(computed_at, score, band) since ``since`` plus the row in force when the window
    opened, oldest first; one query (an indexed range scan from that row on)."""
    opened = (
        Score.objects.filter(account=account, computed_at__lt=since)
        .order_by("-computed_at")
        .values("computed_at")[:1]
    )
    return list(
        Score.objects.filter(
            account=account, computed_at__gte=Coalesce(Subquery(opened), Value(since))
        )
        .order_by("computed_at")
        .values_list("computed_at", "score", "band")
    )


def metric_points(
    account: Account, *, metric_keys: list[str], since: dt.datetime
) -> dict[str, list[tuple[dt.datetime, float]]]:
    """Raw metric values for the page's per-metric charts, one query."""
    out: dict[str, list[tuple[dt.datetime, float]]] = {k: [] for k in metric_keys}
    rows = (
        MetricValue.objects.filter(
            account=account, metric__key__in=metric_keys, observed_at__gte=since
        )
        .order_by("observed_at")
        .values_list("metric__key", "observed_at", "value")
    )
    for key, at, value in rows:
        out[key].append((at, value))
    return out


def timeline(account: Account, *, limit: int = 40) -> list[Activity]:
    return list(
        Activity.objects.filter(account=account)
        .select_related("actor")
        .order_by("-occurred_at", "-id")[:limit]
    )


def chart_markers(account: Account, *, since: dt.datetime) -> list[tuple[str, dt.datetime, str]]:
    """(kind, when, label) for feedback, tasks and outcomes since ``since``; one query over
    the timeline, which services write in the same transaction as the change."""
    kinds: dict[str, str] = {
        Activity.Kind.FEEDBACK: "feedback",
        Activity.Kind.TASK_CREATED: "task",
        Activity.Kind.TASK_COMPLETED: "task",
        Activity.Kind.OUTCOME: "outcome",
    }
    rows = (
        Activity.objects.filter(account=account, kind__in=list(kinds), occurred_at__gte=since)
        .order_by("occurred_at")
        .values_list("kind", "occurred_at", "summary")[:500]
    )
    return [(kinds[kind], at, summary) for kind, at, summary in rows]


def owner_choices(user: User, account: Account) -> QuerySet[User]:
    """Who ``user`` may hand ``account`` to: CSMs and managers in the user's scope."""
    return (
        visible_users(user)
        .filter(role__in=[Role.CSM, Role.MANAGER])
        .exclude(pk=account.owner_id or 0)
        .order_by("first_name", "last_name", "username")
    )


# --- team dashboard ------------------------------------------------------------------------


def band_counts(accounts: QuerySet[Account]) -> dict[str, int]:
    rows = accounts.order_by().values_list("health_band").annotate(n=Count("pk"))
    return dict(rows)


def band_counts_at(accounts: QuerySet[Account], *, at: dt.datetime) -> dict[str, int]:
    """Computed band per account as of ``at`` (the history row in force then), counted."""
    band_then = Subquery(
        Score.objects.filter(account=OuterRef("pk"), computed_at__lte=at)
        .order_by("-computed_at")
        .values("band")[:1]
    )
    rows = (
        accounts.order_by()
        .annotate(band_then=Coalesce(band_then, Value("")))
        .values_list("band_then")
        .annotate(n=Count("pk"))
    )
    return dict(rows)


def at_risk_arr_by_quarter(
    accounts: QuerySet[Account], *, today: dt.date, quarters: int = 4
) -> list[dict[str, Any]]:
    """Red and yellow ARR of accounts renewing in the next ``quarters`` calendar quarters
    (this one included), one grouped query."""
    first = dt.date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    labels: list[tuple[dt.date, str]] = []
    y, m = first.year, first.month
    for _ in range(quarters):
        labels.append((dt.date(y, m, 1), f"Q{(m - 1) // 3 + 1} {y}"))
        m += 3
        if m > 12:
            y, m = y + 1, m - 12
    end = dt.date(y, m, 1)
    rows = (
        accounts.filter(
            health_band__in=["red", "yellow"], renewal_date__gte=today, renewal_date__lt=end
        )
        .order_by()
        .annotate(quarter=TruncQuarter("renewal_date"))
        .values_list("quarter", "health_band")
        .annotate(arr=Sum("arr"), n=Count("pk"))
    )
    totals: dict[tuple[dt.date, str], tuple[Decimal, int]] = {}
    for quarter, band, arr, n in rows:
        q = quarter.date() if isinstance(quarter, dt.datetime) else quarter
        totals[(q, band)] = (arr or Decimal(0), n)
    out = []
    for start, label in labels:
        red_arr, red_n = totals.get((start, "red"), (Decimal(0), 0))
        yellow_arr, yellow_n = totals.get((start, "yellow"), (Decimal(0), 0))
        out.append(
            {
                "label": label,
                "start": start,
                "red_arr": red_arr,
                "red_count": red_n,
                "yellow_arr": yellow_arr,
                "yellow_count": yellow_n,
                "total_arr": red_arr + yellow_arr,
            }
        )
    return out


def entered_red_since(accounts: QuerySet[Account], *, since: dt.datetime) -> QuerySet[Account]:
    """Accounts red now whose computed band was not red at ``since``."""
    band_then = Subquery(
        Score.objects.filter(account=OuterRef("pk"), computed_at__lte=since)
        .order_by("-computed_at")
        .values("band")[:1]
    )
    return (
        accounts.filter(health_band="red")
        .annotate(band_then=Coalesce(band_then, Value("")))
        .exclude(band_then="red")
        .select_related("owner")
        .order_by("health_score", "name")
    )


def average_score_by_day(
    accounts: QuerySet[Account], *, start: dt.date, end: dt.date
) -> list[tuple[dt.date, float]]:
    """The book's average computed score per day from ``start`` to ``end``.

    Score history is a step function per account (a row when the score changes), so the
    sum of all scores on a day is the sum of every change up to that day. One query walks
    the history once: each row contributes its change against the account's previous row
    (LAG) to its day; a running total over the days gives sum and count, hence the
    average, without a lookup per account per day."""
    inner = (
        Score.objects.filter(account__in=accounts.order_by().values("pk"), score__isnull=False)
        .annotate(
            day=TruncDate("computed_at"),
            previous=Window(
                Lag("score"), partition_by=[F("account_id")], order_by=F("computed_at").asc()
            ),
        )
        .values("day", "score", "previous")
    )
    sql, params = inner.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT day, SUM(score - COALESCE(previous, 0)), "
            "SUM(CASE WHEN previous IS NULL THEN 1 ELSE 0 END) "
            f"FROM ({sql}) AS history GROUP BY day ORDER BY day",  # noqa: S608 (Django-built SQL)
            params,
        )
        rows = cursor.fetchall()
    total = 0.0
    count = 0
    out: list[tuple[dt.date, float]] = []
    by_day: dict[dt.date, tuple[float, int]] = {}
    for day, delta, new in rows:
        d = dt.date.fromisoformat(day) if isinstance(day, str) else day
        by_day[d] = (float(delta or 0), int(new or 0))
    # Everything before the window folds into the opening total.
    for d in sorted(k for k in by_day if k < start):
        delta, new = by_day[d]
        total += delta
        count += new
    day = start
    while day <= end:
        delta, new = by_day.get(day, (0.0, 0))
        total += delta
        count += new
        if count:
            out.append((day, round(total / count, 1)))
        day += dt.timedelta(days=1)
    return out


def team_members(user: User, *, today: dt.date) -> list[User]:
    """Per person in scope who owns accounts: book size, ARR, average score, accounts per
    band, open and overdue tasks. Two grouped queries whatever the team's size."""
    people: list[User] = list(
        visible_users(user)
        .filter(role__in=[Role.CSM, Role.MANAGER])
        .annotate(
            book_size=Count("owned_accounts"),
            book_arr=Sum("owned_accounts__arr"),
            book_avg=Avg("owned_accounts__health_score"),
            red=Count("owned_accounts", filter=Q(owned_accounts__health_band="red")),
            yellow=Count("owned_accounts", filter=Q(owned_accounts__health_band="yellow")),
            green=Count("owned_accounts", filter=Q(owned_accounts__health_band="green")),
        )
        .filter(Q(role=Role.CSM) | Q(book_size__gt=0))
        .select_related("team")
        .order_by("team__name", "first_name", "last_name", "username")
    )
    counts: dict[int, tuple[int, int]] = {}
    if people:
        rows = (
            Task.objects.filter(assignee_id__in=[p.pk for p in people], status=TaskStatus.OPEN)
            .order_by()
            .values_list("assignee_id")
            .annotate(open=Count("pk"), overdue=Count("pk", filter=Q(due_date__lt=today)))
        )
        counts = {assignee: (n_open, n_overdue) for assignee, n_open, n_overdue in rows}
    for p in people:
        n_open, n_overdue = counts.get(p.pk, (0, 0))
        p.open_tasks = n_open  # type: ignore[attr-defined]
        p.overdue_tasks = n_overdue  # type: ignore[attr-defined]
    return people


def api_token_for_key(key: str) -> ApiToken | None:
    """The token whose key this is (revoked ones too, so the caller can say so)."""
    from accounts.services import hash_api_key

    return ApiToken.objects.select_related("user").filter(key_hash=hash_api_key(key)).first()


def visible_import_jobs(user: User) -> QuerySet[ImportJob]:
    """Admins see every import; managers the ones they ran; CSMs none."""
    if user.is_admin:
        return ImportJob.objects.all()
    if user.role == Role.MANAGER:
        return ImportJob.objects.filter(created_by=user)
    return ImportJob.objects.none()


def can_import(user: User) -> bool:
    return user.is_authenticated and (user.is_admin or user.role == Role.MANAGER)
