"""The CSM workspace: portfolio (+ CSV export), account page and its actions, team dashboard.

Function views: fetch through ``accounts.selectors`` (outside the user's scope = 404),
validate with a form, call one service, then render (HTMX: the fragment) or redirect.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRefresh

from accounts.forms import (
    ApiTokenForm,
    ContactForm,
    FeedbackForm,
    ImportMappingForm,
    ImportUploadForm,
    OverrideForm,
    OwnerForm,
    PortfolioFilterForm,
)
from accounts.imports import jobs as import_jobs
from accounts.imports.registry import kind_spec
from accounts.models import Account, ApiToken, Contact, ImportJob, LifecycleStage, User
from accounts.selectors import access
from accounts.selectors import team as team_selectors
from accounts.selectors.portfolio import (
    SORT_KEYS,
    OwnerSortedBook,
    bulk_selection,
    portfolio_accounts,
    portfolio_filtered,
    portfolio_owners,
    segment_sizes,
    view_query_string,
)
from accounts.selectors.saved_views import saved_views_menu, shareable_teams
from accounts.selectors.timeline import (
    FILTERS_BY_KEY,
    TIMELINE_FILTERS,
    BadTimelineQuery,
    chart_markers,
    timeline_page,
)
from accounts.services import accounts as account_services
from accounts.services import contacts as contact_services
from accounts.services import tokens as token_services
from accounts.services.audit import Action, ObjectType, record_audit
from chs_site import charts
from chs_site.confirm import Confirmation, is_confirmed, render_confirmation
from chs_site.errors import ApplicationError, ValidationFailed
from chs_site.formatting import neutralise_csv_cell
from chs_site.http import ACCOUNT_CHANGED, AuthedRequest
from playbooks.forms import TaskCreateForm
from playbooks.selectors.plans import active_plan_count
from playbooks.selectors.tasks import account_open_tasks, task_counts_by_assignee
from scoring import validation
from scoring.forms import OutcomeForm
from scoring.models import Outcome
from scoring.selectors import health
from scoring.selectors import team as score_team
from scoring.selectors.history import path_to_green, score_movers
from scoring.selectors.scorecards import (
    book_thresholds,
    current_scorecard_for,
    metric_keys,
    thresholds_for,
)
from scoring.services import overrides
from scoring.services.feedback import log_feedback as log_feedback_service

if TYPE_CHECKING:
    from scoring.models import Scorecard

PAGE_SIZE = 50
HISTORY_DAYS = 180
TEAM_HISTORY_TTL = 600  # seconds
SPARK_DAYS = 30


# --- portfolio ---------------------------------------------------------------------------


def _portfolio_form(request: AuthedRequest) -> tuple[PortfolioFilterForm, int]:
    """The filter form (segment choices from the user's book) and the book's size, from
    one grouped query."""
    user = request.user
    sizes = segment_sizes(user)
    owners = None if user.is_csm else portfolio_owners(user)
    segments = sorted(s for s in sizes if s)
    form = PortfolioFilterForm(request.GET, user=user, segments=segments, owners=owners)
    return form, sum(sizes.values())


@login_required
@require_GET
def portfolio(request: AuthedRequest) -> HttpResponse:
    user = request.user
    saved_views = None if request.htmx else saved_views_menu(user)
    if saved_views and not request.GET:
        # A bare /portfolio/ opens the user's default view, in the URL like any other view
        # (?view=all is the whole book without it).
        default = next((v for v in saved_views if v.is_default), None)  # type: ignore[attr-defined]
        if default is not None and default.query:
            return redirect(f"{reverse('accounts:portfolio')}?{default.query}")
    form, total_in_scope = _portfolio_form(request)
    query = form.to_query()
    filtered = portfolio_filtered(user, query)
    accounts = health.with_override_flag(portfolio_accounts(user, query, filtered=filtered))
    paginator: Paginator[Account]
    if OwnerSortedBook.serves(user, query):
        # Read per owner (see OwnerSortedBook); it counts the book as it goes.
        paginator = Paginator(
            OwnerSortedBook(accounts, filtered, descending=query.descending),
            PAGE_SIZE,
        )
    else:
        paginator = Paginator(accounts, PAGE_SIZE)
        # Count the filtered book without the sort's joins and per-row extras.
        paginator.count = filtered.count()  # type: ignore[misc]
    page = paginator.get_page(request.GET.get("page"))
    rows = list(page.object_list)
    now = timezone.now()
    since = now - dt.timedelta(days=SPARK_DAYS)
    points = health.score_points_since(rows, since=since)
    for a in rows:
        a.spark = charts.sparkline(points.get(a.pk, []), start=since, end=now)  # type: ignore[attr-defined]

    # Sort, filters and search compose in one query string (the view); the page number
    # rides on top of it. Every link on the page (headers, pages, export) keeps the view.
    view = view_query_string(request.GET)
    params = QueryDict(view, mutable=True)
    sort_params = params.copy()
    sort_params.pop("sort", None)
    sort = query.sort if query.sort_key in SORT_KEYS else "account"
    context = {
        "form": form,
        "page": page,
        "rows": rows,
        "columns": _columns(user, sort=sort, base=sort_params.urlencode()),
        "query": view,
        "sort": sort,
        "filtered": bool(sort_params),
        "show_owner": not user.is_csm,
        "can_manage": access.can_reassign_work(user),
        "export_url": reverse("accounts:portfolio_export") + (f"?{view}" if view else ""),
        "selection_filters": [(k, v) for k, v in params.items()],
    }
    if request.htmx:
        return render(request, "accounts/portfolio.html#table", context)
    context["total_in_scope"] = total_in_scope
    context["saved_views"] = saved_views
    context["share_teams"] = list(shareable_teams(user))
    return render(request, "accounts/portfolio.html", context)


COLUMNS = (
    # key, label, numeric, default direction when first clicked
    ("account", "Account", False, ""),
    ("band", "Band", False, ""),
    ("score", "Score", True, ""),
    ("trend", "30-day trend", True, ""),
    ("mover", "Moved most", False, ""),
    ("arr", "ARR", True, "-"),
    ("renewal", "Renewal", False, ""),
    ("tasks", "Open tasks", True, "-"),
    ("owner", "Owner", False, ""),
)


def _columns(user: User, *, sort: str, base: str) -> list[dict[str, Any]]:
    """Header links: clicking the sorted column flips its direction."""
    out = []
    for key, label, numeric, default in COLUMNS:
        if key == "owner" and user.is_csm:
            continue
        current = sort.removeprefix("-") == key
        descending = sort.startswith("-")
        target = (key if descending else f"-{key}") if current else f"{default}{key}"
        href = f"?{base}&sort={target}" if base else f"?sort={target}"
        out.append(
            {
                "key": key,
                "label": label,
                "numeric": numeric,
                "href": href,
                "aria_sort": ("descending" if descending else "ascending") if current else "",
            }
        )
    return out


class _Echo:
    """csv.writer target that hands each row back instead of buffering the file."""

    def write(self, value: str) -> str:
        return value


EXPORT_COLUMNS = (
    "account",
    "external_id",
    "score",
    "band",
    "trend_30d",
    "owner",
    "arr",
    "renewal_date",
)


def _export_rows(accounts: Any) -> Iterator[list[str]]:
    yield list(EXPORT_COLUMNS)
    rows = accounts.prefetch_related(None).values_list(
        "name",
        "external_id",
        "health_score",
        "health_band",
        "score_change_30d",
        "owner__username",
        "arr",
        "renewal_date",
    )
    for name, ext, score, band, trend, owner, arr, renewal in rows.iterator(chunk_size=2000):
        yield [
            neutralise_csv_cell(name),
            neutralise_csv_cell(ext),
            "" if score is None else f"{score:.1f}",
            band,
            "" if trend is None else f"{trend:.1f}",
            neutralise_csv_cell(owner or ""),
            f"{arr:.2f}",
            renewal.isoformat() if renewal else "",
        ]


@login_required
@require_GET
def portfolio_export(request: AuthedRequest) -> HttpResponse | StreamingHttpResponse:
    """The portfolio as CSV with the page's filters and sort (or just the ticked rows),
    streamed row by row."""
    if "account" in request.GET and request.GET.get("all") != "1":  # ticked rows only
        try:
            picked = bulk_selection(request.user, external_ids=request.GET.getlist("account"))
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return redirect(
                reverse("accounts:portfolio") + "?" + (view_query_string(request.GET) or "view=all")
            )
        accounts = Account.objects.filter(pk__in=[a.pk for a in picked]).order_by("name", "pk")
    else:  # the view: every account matching its filters, in its sort
        form, _ = _portfolio_form(request)
        accounts = portfolio_accounts(request.user, form.to_query())
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in _export_rows(accounts)),
        content_type="text/csv; charset=utf-8",
    )
    stamp = timezone.localdate().isoformat()
    filename = f"portfolio-{stamp}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    record_audit(
        action=Action.DOWNLOADED,
        object_type=ObjectType.EXPORT,
        label=filename,
        changes={"filters": [None, request.GET.urlencode() or "none"]},
    )
    return response


# --- account page ------------------------------------------------------------------------


@dataclass(frozen=True)
class _History:
    """The account's score steps over the last ``HISTORY_DAYS`` (what the trend chart and
    the timeline's score moves both read), fetched once per page."""

    since: dt.datetime
    end: dt.datetime
    points: list[tuple[dt.datetime, float | None, str]]

    @classmethod
    def of(cls, account: Account) -> _History:
        end = timezone.now()
        since = end - dt.timedelta(days=HISTORY_DAYS)
        return cls(since, end, health.score_history_points(account, since=since))


def _health_context(account: Account, history: _History | None = None) -> dict[str, Any]:
    latest = health.latest_score(account)
    scorecard = current_scorecard_for(account)
    breakdown = list(latest.breakdown) if latest else []
    for row in breakdown:
        row["share"] = (
            round(100 * float(row.get("contribution") or 0) / latest.score, 0)
            if latest and latest.score
            else None
        )
    return {
        "latest": latest,
        "trend_chart": _trend_chart(account, history or _History.of(account)),
        "breakdown": breakdown,
        "override": health.active_override(account),
        "pending": health.is_recompute_pending(account),
        "movers_week": score_movers(account=account, days=7),
        "movers_month": score_movers(account=account, days=30),
        "path": path_to_green(account=account),
        "scorecard": scorecard,
    }


def _trend_chart(account: Account, history: _History) -> SafeString:
    """180-day score trend on the account's band zones with feedback, task and outcome
    markers."""
    since = history.since
    red_below, green_at = thresholds_for(account)
    return charts.trend_chart_svg(
        points=[(at, score) for at, score, _ in history.points if score is not None],
        start=since,
        end=history.end,
        red_below=red_below,
        green_at=green_at,
        markers=[
            charts.Marker(at=at, kind=kind, label=label)
            for kind, at, label in chart_markers(account, since=since)
        ],
        description=(
            f"Health score of {account.name} over the last {HISTORY_DAYS} days on red, "
            "yellow and green zones, with feedback, task and outcome markers."
        ),
    )


def _metric_charts(
    account: Account, scorecard: Scorecard | None, keys: list[str]
) -> list[dict[str, Any]]:
    """One chart per measure of the latest score: the metric's raw values over 180 days
    with the measure's bad and good thresholds (one query for all of them)."""
    if scorecard is None or not keys:
        return []
    # current_scorecard_for prefetched the measures and their metrics.
    measures = {m.metric.key: m for m in scorecard.measures.all() if m.metric.key in keys}
    now = timezone.now()
    since = now - dt.timedelta(days=HISTORY_DAYS)
    values = health.metric_points(account, metric_keys=list(measures), since=since)
    out = []
    for key in keys:
        measure = measures.get(key)
        if measure is None:
            continue
        name = measure.metric.name
        out.append(
            {
                "metric": key,
                "name": name,
                "svg": charts.metric_chart_svg(
                    name=name,
                    unit=measure.metric.unit,
                    points=values.get(key, []),
                    start=since,
                    end=now,
                    bad=measure.bad,
                    good=measure.good,
                    description=(
                        f"{name} over {HISTORY_DAYS} days with its bad and good thresholds."
                    ),
                ),
            }
        )
    return out


def _score_changes(history: _History) -> list[dict[str, Any]]:
    """Moves of ≥ 5 points inside a band (band changes are already timeline rows)."""
    since = history.since
    out = []
    previous = None
    for at, score, band in history.points:
        if previous is not None and score is not None and previous[0] is not None:
            delta = score - previous[0]
            if abs(delta) >= 5 and band == previous[1] and at >= since:
                out.append(
                    {
                        "occurred_at": at,
                        "kind": "score",
                        "summary": f"Score {previous[0]:g} → {score:g}",
                    }
                )
        previous = (score, band)
    return out


def _timeline_context(request: AuthedRequest, account: Account) -> dict[str, Any]:
    """One page of the timeline with the filter and cursor from the URL; a filter or page
    link that does not exist shows the newest entries and says so."""
    kind = request.GET.get("kind", "")
    before = request.GET.get("before", "")
    moves = _score_changes(_History.of(account))
    error = ""
    try:
        page = timeline_page(account, kind=kind, before=before, score_moves=moves)
    except BadTimelineQuery as exc:
        error = str(exc)
        kind = kind if kind in FILTERS_BY_KEY else ""
        page = timeline_page(account, kind=kind, score_moves=moves)
    return {
        "timeline": page.entries,
        "timeline_next": page.next_cursor,
        "timeline_kind": kind,
        "timeline_paged": bool(before) and not error,
        "timeline_error": error,
        "timeline_filters": TIMELINE_FILTERS,
    }


ACCOUNT_TABS = (
    ("overview", "Overview"),
    ("timeline", "Timeline"),
    ("tasks", "Tasks"),
    ("plans", "Success plans"),
    ("contacts", "Contacts"),
)
TAB_KEYS = {key for key, _ in ACCOUNT_TABS}


def _churn(account: Account) -> dict[str, Any] | None:
    """For a churned account: when it churned and the ARR lost (the churn outcome's ARR
    change, else the ARR it had), for the banner and the key facts."""
    if account.lifecycle_stage != LifecycleStage.CHURNED:
        return None
    rows = health.recent_outcomes(account)
    churn = next((o for o in rows if o.kind == Outcome.Kind.CHURNED), None)
    lost = -churn.arr_change if churn is not None and churn.arr_change < 0 else account.arr
    return {"on": churn.occurred_at if churn is not None else None, "arr_lost": lost}


def _head_context(account: Account, tab: str) -> dict[str, Any]:
    """The page head: owner, lifecycle (churned or not), the tabs with their counts."""
    counts = {
        "tasks": account.open_task_count,
        "plans": active_plan_count(account),
        "contacts": account.contacts.count(),
    }
    base = account.get_absolute_url()
    return {
        "account": account,
        "tab": tab,
        "tabs": [
            {
                "key": key,
                "label": label,
                "count": counts.get(key),
                "url": base if key == "overview" else f"{base}?tab={key}",
                "selected": key == tab,
            }
            for key, label in ACCOUNT_TABS
        ],
        "churn": _churn(account),
    }


def _tab_context(
    request: AuthedRequest, account: Account, tab: str, **forms: Any
) -> dict[str, Any]:
    """What the chosen tab shows (only that tab's queries run)."""
    user = request.user
    context: dict[str, Any] = {"today": timezone.localdate(), "history_days": HISTORY_DAYS}
    if tab == "overview":
        history = _History.of(account)
        context.update(_health_context(account, history))
        latest = context["latest"]
        # Outcomes and the churn-risk signal are scoring's; its form posts to its view.
        context["outcomes"] = health.recent_outcomes(account)
        context["outcome_form"] = OutcomeForm()
        if account.renewal_date is not None:
            context["renewal_days"] = (account.renewal_date - context["today"]).days
        context["churn_risk"] = validation.churn_risk_for(
            account=account, breakdown=latest.breakdown if latest is not None else None
        )
        context["metric_charts"] = _metric_charts(
            account,
            context["scorecard"],
            [row["metric"] for row in (latest.breakdown if latest else []) if row.get("metric")],
        )
    elif tab == "timeline":
        context.update(_timeline_context(request, account))
    elif tab == "tasks":
        # Tasks belong to the playbooks app: its fragment renders here (so the open tasks
        # show without JavaScript) and its create-task form posts to its view.
        context["tasks"] = account_open_tasks(account)
        context["task_form"] = TaskCreateForm(
            people=access.visible_users(user).order_by("username"), prefix="task"
        )
    elif tab == "contacts":
        editing: tuple[int, ContactForm] | None = forms.get("contact_edit")
        context["contact_rows"] = [
            (
                c,
                editing[1]
                if editing is not None and editing[0] == c.pk
                else ContactForm(instance=c, prefix=f"contact-{c.pk}"),
            )
            for c in account.contacts.all()
        ]
        context["contact_form"] = forms.get("contact_form") or ContactForm(prefix="new-contact")
    return context


def _account_context(
    request: AuthedRequest, account: Account, *, tab: str = "overview", **forms: Any
) -> dict[str, Any]:
    user = request.user
    may_manage = access.can_manage_account(user, account)
    context: dict[str, Any] = {
        "feedback_form": forms.get("feedback_form") or FeedbackForm(),
        "override_form": forms.get("override_form") or OverrideForm(),
        "may_manage": may_manage,
        "history_days": HISTORY_DAYS,
    }
    if may_manage:
        context["owner_form"] = forms.get("owner_form") or OwnerForm(
            choices=access.owner_choices(user, account)
        )
    context.update(_head_context(account, tab))
    context.update(_tab_context(request, account, tab, **forms))
    return context


@login_required
@require_GET
def account_detail(request: AuthedRequest, external_id: str) -> HttpResponse:
    """The account page, one tab at a time (``?tab=``). With htmx a tab link swaps the tab
    panel (and the head, out of band, for the selected tab); ``?part=head`` is the head
    alone, which the page refetches after any action."""
    account = access.get_account_for_user(request.user, external_id)
    tab = request.GET.get("tab") or "overview"
    if tab not in TAB_KEYS:
        raise Http404(f"There is no tab {tab!r} on the account page.")
    if request.htmx and not request.htmx.history_restore_request:
        if request.GET.get("part") == "head":
            return render(request, "accounts/account_detail.html#head", _head_context(account, tab))
        context = _account_context(request, account, tab=tab)
        context["head_oob"] = True
        return render(request, "accounts/account_detail.html#tab-panel", context)
    return render(
        request, "accounts/account_detail.html", _account_context(request, account, tab=tab)
    )


@login_required
@require_GET
def account_health(request: AuthedRequest, external_id: str) -> HttpResponse:
    """The score region alone; the page polls it while a recompute is pending."""
    account = access.get_account_for_user(request.user, external_id)
    if not request.htmx:
        return redirect(account)
    context = {"account": account, "history_days": HISTORY_DAYS, **_health_context(account)}
    response = render(request, "accounts/account_detail.html#health", context)
    if not context["pending"]:
        # The recompute is done: let the rest of the page (head, timeline) catch up once.
        response["HX-Trigger"] = "health-updated"
    return response


@login_required
@require_GET
def account_timeline(request: AuthedRequest, external_id: str) -> HttpResponse:
    """The timeline region alone (same filter and page as the URL's), refetched after an
    action; without htmx, the page's timeline tab."""
    account = access.get_account_for_user(request.user, external_id)
    if not request.htmx:
        query = request.GET.copy()
        query["tab"] = "timeline"
        return redirect(f"{account.get_absolute_url()}?{query.urlencode()}")
    context = {"account": account, **_timeline_context(request, account)}
    return render(request, "accounts/account_detail.html#timeline", context)


def _action_response(
    request: AuthedRequest,
    account: Account,
    *,
    fragment: str,
    ok_message: str | None,
    **forms: Any,
) -> HttpResponse:
    """After an action: HTMX gets the action's card (with its message and, for a change
    of the score, the score region out of band) and an ``account-changed`` event, on which
    the page refetches its head (counts, owner) and timeline; without JavaScript, a
    redirect with a flash message, or the page with the form's errors."""
    if ok_message is not None:
        # The action may have recomputed the score already (eager tasks) or changed the owner.
        account.refresh_from_db()
    if request.htmx:
        if fragment.startswith("contact"):
            context = _account_context(request, account, tab="contacts", **forms)
        else:
            context = _account_context(request, account, **forms)
        context["ok_message"] = ok_message
        context["oob"] = ok_message is not None
        # 200 for a refusal too: htmx does not swap 4xx answers, and the form is where
        # the person reads why.
        response = render(request, f"accounts/account_detail.html#{fragment}", context)
        if ok_message is not None:
            response["HX-Trigger"] = ACCOUNT_CHANGED
        return response
    if ok_message is not None:
        messages.success(request, ok_message)
        tab = "?tab=contacts" if fragment.startswith("contact") else ""
        return redirect(account.get_absolute_url() + tab)
    tab = "contacts" if fragment.startswith("contact") else "overview"
    return render(
        request,
        "accounts/account_detail.html",
        _account_context(request, account, tab=tab, **forms),
        status=400,
    )


@login_required
@require_POST
def log_feedback(request: AuthedRequest, external_id: str) -> HttpResponse:
    account = access.get_account_for_user(request.user, external_id)
    form = FeedbackForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            feedback = log_feedback_service(
                user=request.user,
                account=account,
                kind=data["kind"],
                score=data["score"],
                survey=data["survey"] or "",
                sentiment=data["sentiment"] or "",
                text=data["text"],
                occurred_at=data["occurred_at"],
            )
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            label = feedback.get_kind_display()
            survey = f"{feedback.survey.upper()} " if feedback.survey else ""
            scored = f" ({survey}{feedback.score})" if feedback.score is not None else ""
            return _action_response(
                request,
                account,
                fragment="feedback",
                ok_message=f"{label}{scored} logged for {account.name}.",
            )
    return _action_response(
        request, account, fragment="feedback", ok_message=None, feedback_form=form
    )


@login_required
@require_POST
def override_score(request: AuthedRequest, external_id: str) -> HttpResponse:
    account = access.get_account_for_user(request.user, external_id)
    form = OverrideForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            overrides.override_score(
                account=account,
                author=request.user,
                score=data["score"],
                band=data["band"] or "",
                reason=data["reason"],
                expires_at=form.expires_at_datetime(),
            )
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            account.refresh_from_db()
            return _action_response(
                request,
                account,
                fragment="override",
                ok_message=f"Override saved; it ends on {data['expires_at']:%b %-d, %Y}.",
            )
    return _action_response(
        request, account, fragment="override", ok_message=None, override_form=form
    )


@login_required
@require_POST
def change_owner(request: AuthedRequest, external_id: str) -> HttpResponse:
    user = request.user
    account = access.get_account_for_user(user, external_id)
    if not access.can_manage_account(user, account):
        # A CSM sees the account but may not hand it over: not a secret, so 403 with words,
        # on the account page itself rather than a bare error.
        refusal = "Only the team's manager or an admin can change an account's owner."
        if request.htmx:
            return HttpResponse(refusal, status=403)
        messages.error(request, refusal)
        return render(
            request, "accounts/account_detail.html", _account_context(request, account), status=403
        )
    form = OwnerForm(request.POST, choices=access.owner_choices(user, account))
    if form.is_valid():
        try:
            account_services.update_account(
                user=user, account=account, data={"owner": form.cleaned_data["owner"]}
            )
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            return _action_response(
                request,
                account,
                fragment="owner",
                ok_message=f"{account.name} now belongs to {account.owner.display_name}."  # type: ignore[union-attr]
                if account.owner
                else "Owner changed.",
            )
    return _action_response(request, account, fragment="owner", ok_message=None, owner_form=form)


@login_required
@require_POST
def revoke_override(request: AuthedRequest, external_id: str) -> HttpResponse:
    """End the active override now; the computed score shows again."""
    account = access.get_account_for_user(request.user, external_id)
    override = health.active_override(account)
    if override is None:
        messages.info(request, "There is no active override on this account.")
        return redirect(account)
    try:
        overrides.revoke_override(override=override, author=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect(account)
    return _action_response(
        request,
        account,
        fragment="override",
        ok_message="Override ended; the computed score shows again.",
    )


def _contact_form_errors(form: ContactForm, exc: ApplicationError) -> None:
    errors = getattr(exc, "errors", None) or []
    for error in errors:
        field = error.get("field")
        form.add_error(field if field in form.fields else None, error["reason"])
    if not errors:
        form.add_error(None, exc.message)


@login_required
@require_POST
def add_contact(request: AuthedRequest, external_id: str) -> HttpResponse:
    account = access.get_account_for_user(request.user, external_id)
    form = ContactForm(request.POST, prefix="new-contact")
    if form.is_valid():
        try:
            contact = contact_services.create_contact(
                user=request.user, account=account, data=form.cleaned_data
            )
        except ApplicationError as exc:
            _contact_form_errors(form, exc)
        else:
            return _action_response(
                request,
                account,
                fragment="contacts",
                ok_message=f"{contact.name} added to the contacts.",
            )
    return _action_response(
        request, account, fragment="contacts", ok_message=None, contact_form=form
    )


@login_required
@require_POST
def edit_contact(request: AuthedRequest, external_id: str, pk: int) -> HttpResponse:
    contact = access.get_contact_for_user(request.user, external_id, pk)
    account = contact.account
    form = ContactForm(request.POST, instance=Contact(account=account), prefix=f"contact-{pk}")
    if form.is_valid():
        try:
            contact = contact_services.update_contact(
                user=request.user, contact=contact, data=form.cleaned_data
            )
        except ApplicationError as exc:
            _contact_form_errors(form, exc)
        else:
            return _action_response(
                request, account, fragment="contacts", ok_message=f"{contact.name} saved."
            )
    return _action_response(
        request,
        account,
        fragment="contacts",
        ok_message=None,
        contact_edit=(pk, form),
    )


@login_required
@require_http_methods(["GET", "POST"])
def delete_contact(request: AuthedRequest, external_id: str, pk: int) -> HttpResponse:
    """GET: what removing the contact means; POST with the confirmation: remove it."""
    contact = access.get_contact_for_user(request.user, external_id, pk)
    account = contact.account
    back = f"{account.get_absolute_url()}?tab=contacts"
    confirmation = Confirmation(
        title=f"Remove {contact.name}",
        question=f"Remove {contact.name} from {account.name}'s contacts?",
        consequences=[
            "The contact's name, role, email, phone and flags are deleted.",
            "The timeline keeps a line saying who removed them and when.",
        ],
        action_url=reverse("accounts:delete_contact", args=[account.external_id, pk]),
        submit_label="Remove contact",
        cancel_url=back,
        danger=True,
    )
    if request.method == "GET":
        return render_confirmation(request, confirmation)
    if not is_confirmed(request):
        return render_confirmation(request, confirmation, refused=True)
    name = contact.name
    contact_services.delete_contact(user=request.user, contact=contact)
    return _action_response(
        request, account, fragment="contacts", ok_message=f"{name} removed from the contacts."
    )


# --- team dashboard ----------------------------------------------------------------------


@login_required
@require_GET
def team_dashboard(request: AuthedRequest) -> HttpResponse:
    user = request.user
    if not (user.is_admin or user.is_manager):
        raise Http404("The team dashboard is for managers and admins.")
    scope = access.visible_accounts(user)
    now = timezone.now()
    today = timezone.localdate()
    bands_now = team_selectors.band_counts(scope)
    book_red_below, book_green_at = book_thresholds(scope)
    # History aggregates read every account's score rows (millions at 100 000 accounts) and
    # change slowly: computed once per manager per 10 minutes, the rest is live.
    history_key = f"chs:team-history:{user.pk}:{today.isoformat()}"
    history = cache.get(history_key)
    if history is None:
        start = today - dt.timedelta(days=HISTORY_DAYS)
        history = {
            "bands_before": score_team.band_counts_at(scope, at=now - dt.timedelta(days=30)),
            "averages": score_team.average_score_by_day(scope, start=start, end=today),
        }
        cache.set(history_key, history, TEAM_HISTORY_TTL)
    bands_before = history["bands_before"]
    quarters = team_selectors.at_risk_arr_by_quarter(scope, today=today)
    entered_red = list(score_team.entered_red_since(scope, since=now - dt.timedelta(days=7))[:25])
    start = today - dt.timedelta(days=HISTORY_DAYS)
    averages = history["averages"]
    people = team_selectors.team_members(user)
    task_counts = task_counts_by_assignee([p.pk for p in people], today=today)
    for p in people:
        p.open_tasks, p.overdue_tasks = task_counts.get(p.pk, (0, 0))  # type: ignore[attr-defined]
    total = sum(bands_now.values())
    day_start = timezone.make_aware(dt.datetime.combine(start, dt.time()))
    context = {
        "total": total,
        "bands_now": bands_now,
        "bands_before": bands_before,
        "band_rows": [
            {
                "key": key,
                "filter": key or "none",
                "label": label,
                "now": bands_now.get(key, 0),
                "before": bands_before.get(key, 0),
                "change": bands_now.get(key, 0) - bands_before.get(key, 0),
            }
            for key, label in (
                ("red", "Red"),
                ("yellow", "Yellow"),
                ("green", "Green"),
                ("", "No data"),
            )
        ],
        "quarters": quarters,
        "at_risk_total": sum(q["total_arr"] for q in quarters),
        "entered_red": entered_red,
        "people": people,
        "average_now": averages[-1][1] if averages else None,
        "band_chart": charts.band_distribution_svg(now=bands_now, before=bands_before),
        "arr_chart": charts.at_risk_arr_svg(
            quarters=[q["label"] for q in quarters],
            red=[float(q["red_arr"]) for q in quarters],
            yellow=[float(q["yellow_arr"]) for q in quarters],
        ),
        "average_chart": charts.average_score_svg(
            points=[
                (timezone.make_aware(dt.datetime.combine(d, dt.time(12))), v) for d, v in averages
            ],
            start=day_start,
            end=now,
            red_below=book_red_below,
            green_at=book_green_at,
        ),
    }
    return render(request, "accounts/team_dashboard.html", context)


# --- imports -----------------------------------------------------------------------------


def _importer_only(user: User) -> None:
    """The imports pages exist only for admins and managers (404 for everyone else)."""
    if not access.can_import(user):
        raise Http404("No such page.")


@login_required
@require_http_methods(["GET", "POST"])
def imports(request: AuthedRequest) -> HttpResponse:
    user = request.user
    _importer_only(user)
    form = ImportUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            job = import_jobs.create_import_job(
                user=user,
                kind=form.cleaned_data["kind"],
                upload=form.cleaned_data["file"],
                number_locale=form.cleaned_data["number_locale"] or None,
            )
        except ApplicationError as exc:
            form.add_error("file", exc.message)
        else:
            messages.success(
                request, f"Uploaded {job.original_name}. Check the columns, then run it."
            )
            return redirect(job)
    jobs = list(import_jobs.import_jobs_for(user)[:25])
    return render(request, "accounts/imports.html", {"form": form, "jobs": jobs})


def _job_for(user: User, pk: int) -> ImportJob:
    _importer_only(user)
    return get_object_or_404(import_jobs.import_jobs_for(user), pk=pk)


@login_required
@require_http_methods(["GET", "POST"])
def import_detail(request: AuthedRequest, pk: int) -> HttpResponse:
    user = request.user
    job = _job_for(user, pk)
    extra_keys = metric_keys() if kind_spec(job.kind).extra_columns else []
    form = None
    if job.status == ImportJob.Status.UPLOADED:
        form = ImportMappingForm(request.POST or None, job=job, extra_keys=extra_keys)
        if request.method == "POST" and form.is_valid():
            import_jobs.update_mapping(
                job=job,
                mapping=form.mapping(),
                number_locale=form.cleaned_data["number_locale"] or None,
            )
            if "run" in request.POST:
                try:
                    import_jobs.start_import(job=job, user=user)
                except ValidationFailed as exc:
                    for error in exc.errors:
                        messages.error(request, f"{error['field']}: {error['reason']}")
                except ApplicationError as exc:
                    messages.error(request, exc.message)
                else:
                    messages.success(request, "The import has started; you can leave this page.")
            return redirect(job)
    elif request.method == "POST" and "requeue" in request.POST:
        if import_jobs.requeue_import(job=job):
            messages.success(request, "Sent to the workers again.")
        else:
            messages.error(request, "This import is no longer waiting; nothing to do.")
        return redirect(job)
    elif request.method == "POST":
        messages.error(request, "This import has already started.")
        return redirect(job)

    preview_rows: list[import_jobs.PreviewRow] = []
    mapping_problems: list[dict[str, str]] = []
    if job.status == ImportJob.Status.UPLOADED:
        mapping_problems = import_jobs.check_mapping(job.kind, job.header, job.mapping)
        try:
            preview_rows = import_jobs.preview(job=job, user=user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
    context = {
        "job": job,
        "form": form,
        "preview_rows": preview_rows,
        "mapping_problems": mapping_problems,
        "progress": import_jobs.progress(job),
        "result_items": sorted(job.result.items()),
        "can_requeue": import_jobs.looks_stuck(job),
    }
    return render(request, "accounts/import_detail.html", context)


@login_required
@require_GET
def import_progress(request: AuthedRequest, pk: int) -> HttpResponse:
    job = _job_for(request.user, pk)
    if not request.htmx:
        return redirect(job)
    if job.is_finished:
        # The result is a different page region; reload the page to show it.
        return HttpResponseClientRefresh()
    return render(
        request,
        "accounts/import_detail.html#progress",
        {"job": job, "progress": import_jobs.progress(job)},
    )


@login_required
@require_GET
def import_errors_csv(request: AuthedRequest, pk: int) -> FileResponse:
    job = _job_for(request.user, pk)
    if not job.errors_file:
        raise Http404("This import has no errors.")
    filename = f"import-{job.pk}-errors.csv"
    response = FileResponse(
        job.errors_file.open("rb"), as_attachment=True, filename=filename, content_type="text/csv"
    )
    record_audit(
        action=Action.DOWNLOADED,
        object_type=ObjectType.EXPORT,
        object_id=job.pk,
        label=filename,
        changes={"rows with errors": [None, job.error_count]},
    )
    return response


# --- API tokens (admins) -----------------------------------------------------------------


def _admin_only(user: User) -> None:
    if not user.is_admin:
        raise Http404("No such page.")


@login_required
@require_http_methods(["GET", "POST"])
def api_tokens(request: AuthedRequest) -> HttpResponse:
    _admin_only(request.user)
    form = ApiTokenForm(request.POST or None)
    new_key = None
    if request.method == "POST" and form.is_valid():
        try:
            issued = token_services.create_api_token(
                user=form.cleaned_data["user"],
                scope=form.cleaned_data["scope"],
                name=form.cleaned_data["name"],
                created_by=request.user,
            )
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            new_key = issued.key
            messages.success(
                request,
                f"Key created for {issued.token.user.display_name}. Copy it now: it is not shown again.",
            )
            form = ApiTokenForm()
    tokens = list(
        ApiToken.objects.select_related("user", "created_by").order_by("-created_at", "-id")[:200]
    )
    return render(
        request, "accounts/api_tokens.html", {"form": form, "tokens": tokens, "new_key": new_key}
    )


@login_required
@require_POST
def revoke_api_token(request: AuthedRequest, pk: int) -> HttpResponse:
    _admin_only(request.user)
    token = get_object_or_404(ApiToken, pk=pk)
    token_services.revoke_api_token(token=token, actor=request.user)
    messages.success(request, f"Key {token.prefix}… of {token.user.display_name} is revoked.")
    return redirect("accounts:api_tokens")
