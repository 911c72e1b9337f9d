"""The portfolio: a user's book filtered and sorted, every sort and filter read from an
index (see the Account model's indexes), and the counts its filters show."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, overload

from django.core.cache import cache
from django.db import connection
from django.db.models import Count, F, Q, QuerySet, Value
from django.db.models.expressions import OrderBy
from django.db.models.functions import NullIf
from django.http import Http404, QueryDict
from django.utils import timezone
from django.utils.http import urlencode

from accounts.models import Account, Role, User, band_rank, owner_sort_name
from accounts.selectors.access import visible_accounts, visible_users
from accounts.selectors.renewals import renewing_between
from accounts.selectors.search import matching_account_ids
from chs_site.errors import ValidationFailed

# --- portfolio -----------------------------------------------------------------------------


BAND_FILTERS = {"red": "red", "yellow": "yellow", "green": "green", "none": ""}

# Sort keys the portfolio offers (the column headers link to them; "-key" reverses).
SORT_KEYS = ("account", "band", "score", "trend", "mover", "arr", "renewal", "tasks", "owner")


# The query-string parameters that make up a portfolio view (filters, search, sort), in the
# order a saved view stores them; "page" is not part of a view.
QUERY_PARAMS = ("q", "band", "segment", "stage", "renewal_within", "dropped_by", "owner", "sort")


def view_query_string(params: QueryDict) -> str:
    """The portfolio view a query string describes, normalised: only its known parameters,
    non-empty, in ``QUERY_PARAMS`` order. A value with a NUL character is dropped (no
    filter accepts one, and PostgreSQL cannot store it)."""
    values = {k: (params.get(k) or "").strip() for k in QUERY_PARAMS}
    return urlencode([(k, v) for k, v in values.items() if v and "\x00" not in v])


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
        qs = qs.filter(pk__in=matching_account_ids(query.search))
    if query.band in BAND_FILTERS:
        qs = qs.filter(health_band=BAND_FILTERS[query.band])
    if query.segment:
        qs = qs.filter(segment=query.segment)
    if query.stage:
        qs = qs.filter(lifecycle_stage=query.stage)
    if query.renewal_within is not None:
        qs = renewing_between(qs, first=today, last=today + dt.timedelta(days=query.renewal_within))
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
    ``portfolio_filtered(user, query)`` when the caller already has it. The page adds the
    override flag (``scoring.selectors.health.with_override_flag``)."""
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

    qs = qs.select_related("owner")
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


# The most accounts one bulk action handles (the same cap as a bulk outreach).
BULK_MAX = 1000


def _too_many() -> ValidationFailed:
    return ValidationFailed(
        f"A bulk action handles at most {BULK_MAX:,} accounts; narrow the filters.",
        errors=[{"field": "account", "message": "too many"}],
    )


def bulk_selection(
    user: User, *, external_ids: list[str], query: PortfolioQuery | None = None
) -> list[Account]:
    """The accounts a bulk action on the portfolio acts on, in the portfolio's order:
    every account matching ``query`` ("all N matching"), or the rows ticked by external id.
    A ticked id outside the user's book is a 404, as opening it would be; more than
    ``BULK_MAX`` accounts is refused with what to do instead."""
    if query is not None:
        accounts = list(portfolio_accounts(user, query)[: BULK_MAX + 1])
        if len(accounts) > BULK_MAX:
            raise _too_many()
        return accounts
    wanted = set(external_ids)
    if not wanted:
        raise ValidationFailed(
            "Select at least one account (tick its row), or choose all matching accounts.",
            errors=[{"field": "account", "message": "nothing selected"}],
        )
    if len(wanted) > BULK_MAX:
        raise _too_many()
    if any("\x00" in ext for ext in wanted):  # no such id can exist; PostgreSQL refuses NUL
        raise Http404("No such account.")
    accounts = list(
        visible_accounts(user)
        .filter(external_id__in=wanted)
        .select_related("owner")
        .order_by("name", "pk")
    )
    if len(accounts) != len(wanted):
        raise Http404("No such account.")
    return accounts
