from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRefresh

from accounts import importing, selectors, services
from accounts.forms import ApiTokenForm, ImportMappingForm, ImportUploadForm, PortfolioFilterForm
from accounts.models import ApiToken, ImportJob, User
from chs_site.errors import ApplicationError, ValidationFailed
from chs_site.http import AuthedRequest
from scoring.models import MetricDefinition

PAGE_SIZE = 50


@login_required
def portfolio(request: AuthedRequest) -> HttpResponse:
    user = request.user
    scope = selectors.visible_accounts(user)
    segments = sorted(s for s in scope.order_by().values_list("segment", flat=True).distinct() if s)
    form = PortfolioFilterForm(request.GET or None, user=user, segments=segments)
    filters = form.cleaned_data if form.is_valid() else {}
    accounts = selectors.portfolio_accounts(
        user,
        search=filters.get("q", ""),
        segment=filters.get("segment", ""),
        owner=filters.get("owner", ""),
    ).order_by("name", "pk")
    page = Paginator(accounts, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "query": query.urlencode(),
        "show_owner": not user.is_csm,
        "total_in_scope": scope.count(),
    }
    template = "accounts/portfolio.html#table" if request.htmx else "accounts/portfolio.html"
    return render(request, template, context)


@login_required
def account_detail(request: AuthedRequest, external_id: str) -> HttpResponse:
    account = selectors.get_account_for_user(request.user, external_id)
    return render(
        request,
        "accounts/account_detail.html",
        {"account": account, "contacts": list(account.contacts.all())},
    )


# --- imports -----------------------------------------------------------------------------


def _importer_only(user: User) -> None:
    """The imports pages exist only for admins and managers (404 for everyone else)."""
    if not selectors.can_import(user):
        raise Http404("No such page.")


@login_required
def imports(request: AuthedRequest) -> HttpResponse:
    user = request.user
    _importer_only(user)
    form = ImportUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            job = importing.create_import_job(
                user=user, kind=form.cleaned_data["kind"], upload=form.cleaned_data["file"]
            )
        except ApplicationError as exc:
            form.add_error("file", exc.message)
        else:
            messages.success(
                request, f"Uploaded {job.original_name}. Check the columns, then run it."
            )
            return redirect(job)
    jobs = list(importing.import_jobs_for(user)[:25])
    return render(request, "accounts/imports.html", {"form": form, "jobs": jobs})


def _job_for(user: User, pk: int) -> ImportJob:
    _importer_only(user)
    return get_object_or_404(importing.import_jobs_for(user), pk=pk)


@login_required
def import_detail(request: AuthedRequest, pk: int) -> HttpResponse:
    user = request.user
    job = _job_for(user, pk)
    metric_keys = list(MetricDefinition.objects.order_by("key").values_list("key", flat=True))
    form = None
    if job.status == ImportJob.Status.UPLOADED:
        form = ImportMappingForm(request.POST or None, job=job, metric_keys=metric_keys)
        if request.method == "POST" and form.is_valid():
            importing.update_mapping(job=job, mapping=form.mapping())
            if "run" in request.POST:
                try:
                    importing.start_import(job=job, user=user)
                except ValidationFailed as exc:
                    for error in exc.errors:
                        messages.error(request, f"{error['field']}: {error['reason']}")
                except ApplicationError as exc:
                    messages.error(request, exc.message)
                else:
                    messages.success(request, "The import has started; you can leave this page.")
            return redirect(job)
    elif request.method == "POST":
        messages.error(request, "This import has already started.")
        return redirect(job)

    preview_rows: list[importing.PreviewRow] = []
    mapping_problems: list[dict[str, str]] = []
    if job.status == ImportJob.Status.UPLOADED:
        mapping_problems = importing.check_mapping(job.kind, job.header, job.mapping)
        try:
            preview_rows = importing.preview(job=job, user=user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
    context = {
        "job": job,
        "form": form,
        "preview_rows": preview_rows,
        "mapping_problems": mapping_problems,
        "progress": importing.progress(job),
        "result_items": sorted(job.result.items()),
    }
    return render(request, "accounts/import_detail.html", context)


@login_required
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
        {"job": job, "progress": importing.progress(job)},
    )


@login_required
def import_errors_csv(request: AuthedRequest, pk: int) -> FileResponse:
    job = _job_for(request.user, pk)
    if not job.errors_file:
        raise Http404("This import has no errors.")
    return FileResponse(
        job.errors_file.open("rb"),
        as_attachment=True,
        filename=f"import-{job.pk}-errors.csv",
        content_type="text/csv",
    )


# --- API tokens (admins) -----------------------------------------------------------------


def _admin_only(user: User) -> None:
    if not user.is_admin:
        raise Http404("No such page.")


@login_required
def api_tokens(request: AuthedRequest) -> HttpResponse:
    _admin_only(request.user)
    form = ApiTokenForm(request.POST or None)
    new_key = None
    if request.method == "POST" and form.is_valid():
        try:
            issued = services.create_api_token(
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
                f"Key created for {issued.token.user.username}. Copy it now: it is not shown again.",
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
    services.revoke_api_token(token=token)
    messages.success(request, f"Key {token.prefix}… of {token.user.username} is revoked.")
    return redirect("accounts:api_tokens")
