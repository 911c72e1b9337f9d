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
from django.http import FileResponse, Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRefresh

from accounts.forms import (
    ApiTokenForm,
    FeedbackForm,
    ImportMappingForm,
    ImportUploadForm,
    OverrideForm,
    OwnerForm,
    PortfolioFilterForm,
)
from accounts.imports import jobs as import_jobs
from accounts.imports.registry import kind_spec
from accounts.models import Account, ApiToken, ImportJob, User
from accounts.selectors import access
from accounts.selectors import team as team_selectors
from accounts.selectors.portfolio import (
    SORT_KEYS,
    OwnerSortedBook,
    portfolio_accounts,
    portfolio_filtered,
    portfolio_owners,
    segment_sizes,
)
from accounts.selectors.timeline import chart_markers, timeline
from accounts.services import accounts as account_services
from accounts.services import tokens as token_services
from accounts.services.audit import Action, ObjectType, record_audit
from chs_site import charts
from chs_site.errors import ApplicationError, ValidationFailed
from chs_site.formatting import neutralise_csv_cell
from chs_site.http import AuthedRequest
from playbooks.forms import TaskCreateForm
from playbooks.selectors.tasks import account_open_tasks, task_counts_by_assignee
from scoring import validation
from scoring.forms import OutcomeForm
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

    params = request.GET.copy()
    params.pop("page", None)
    sort_params = params.copy()
    sort_params.pop("sort", None)
    sort = query.sort if query.sort_key in SORT_KEYS else "account"
    context = {
        "form": form,
        "page": page,
        "rows": rows,
        "columns": _columns(user, sort=sort, base=sort_params.urlencode()),
        "query": params.urlencode(),
        "sort_query": sort_params.urlencode(),
        "sort": sort,
        "filtered": any(k != "sort" for k in params),
        "show_owner": not user.is_csm,
        "export_url": reverse("accounts:portfolio_export")
        + (f"?{params.urlencode()}" if params else ""),
    }
    if request.htmx:
        return render(request, "accounts/portfolio.html#table", context)
    context["total_in_scope"] = total_in_scope
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
def portfolio_export(request: AuthedRequest) -> StreamingHttpResponse:
    """The portfolio as CSV with the page's filters and sort, streamed row by row."""
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


def _timeline_context(account: Account, history: _History | None = None) -> dict[str, Any]:
    entries: list[Any] = list(timeline(account))
    entries += _score_changes(history or _History.of(account))

    def when(e: Any) -> dt.datetime:
        return e["occurred_at"] if isinstance(e, dict) else e.occurred_at

    entries.sort(key=when, reverse=True)
    return {"timeline": entries[:40]}


def _account_context(request: AuthedRequest, account: Account, **forms: Any) -> dict[str, Any]:
    user = request.user
    may_manage = access.can_manage_account(user, account)
    context: dict[str, Any] = {
        "account": account,
        "contacts": list(account.contacts.all()),
        "feedback_form": forms.get("feedback_form") or FeedbackForm(),
        "override_form": forms.get("override_form") or OverrideForm(),
        "may_manage": may_manage,
        "history_days": HISTORY_DAYS,
    }
    if may_manage:
        context["owner_form"] = forms.get("owner_form") or OwnerForm(
            choices=access.owner_choices(user, account)
        )
    # Tasks and success plans belong to the playbooks app: its fragment renders here (so
    # the open tasks show without JavaScript) and its create-task form posts to its view.
    context["tasks"] = account_open_tasks(account)
    context["task_form"] = TaskCreateForm(
        people=access.visible_users(user).order_by("username"), prefix="task"
    )
    context["today"] = timezone.localdate()
    history = _History.of(account)
    context.update(_health_context(account, history))
    context.update(_timeline_context(account, history))
    latest = context["latest"]
    # Outcomes and the churn-risk signal are scoring's; its form posts to its view.
    context["outcomes"] = health.recent_outcomes(account)
    context["outcome_form"] = OutcomeForm()
    context["churn_risk"] = validation.churn_risk_for(
        account=account, breakdown=latest.breakdown if latest is not None else None
    )
    context["metric_charts"] = _metric_charts(
        account,
        context["scorecard"],
        [row["metric"] for row in (latest.breakdown if latest else []) if row.get("metric")],
    )
    return context


@login_required
@require_GET
def account_detail(request: AuthedRequest, external_id: str) -> HttpResponse:
    account = access.get_account_for_user(request.user, external_id)
    return render(request, "accounts/account_detail.html", _account_context(request, account))


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
        # The recompute is done: let the rest of the page (timeline) catch up once.
        response["HX-Trigger"] = "health-updated"
    return response


@login_required
@require_GET
def account_timeline(request: AuthedRequest, external_id: str) -> HttpResponse:
    account = access.get_account_for_user(request.user, external_id)
    if not request.htmx:
        return redirect(account)
    context = {"account": account, **_timeline_context(account)}
    return render(request, "accounts/account_detail.html#timeline", context)


def _action_response(
    request: AuthedRequest,
    account: Account,
    *,
    fragment: str,
    ok_message: str | None,
    **forms: Any,
) -> HttpResponse:
    """After an action: HTMX gets the action's card (with its message) and fresh score and
    timeline regions out of band; without JavaScript, a redirect with a flash message, or
    the whole page with the form's errors."""
    if ok_message is not None:
        # The action may have recomputed the score already (eager tasks) or changed the owner.
        account.refresh_from_db()
    if request.htmx:
        context = _account_context(request, account, **forms)
        context["ok_message"] = ok_message
        context["oob"] = ok_message is not None
        return render(request, f"accounts/account_detail.html#{fragment}", context)
    if ok_message is not None:
        messages.success(request, ok_message)
        return redirect(account)
    return render(
        request,
        "accounts/account_detail.html",
        _account_context(request, account, **forms),
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
                sentiment=data["sentiment"] or "",
                text=data["text"],
                occurred_at=data["occurred_at"],
            )
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            label = feedback.get_kind_display()
            scored = f" ({feedback.score})" if feedback.score is not None else ""
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
