"""Pages of the scoring app: scorecards (list, version, draft editor with live preview,
publish, roll back, backfill with progress) and validation (backtest, suggested weights,
churn model). Everyone signed in reads; admins change (DESIGN.md's roles table): a write
by anyone else is a 403. Outcome entry on the account page is scoped like the account
(another book's account is a 404)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db.models import Prefetch
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.selectors.access import get_account_for_user, visible_accounts
from accounts.selectors.portfolio import segment_sizes
from chs_site import charts
from chs_site.celery import runs_in_process, send_on_commit
from chs_site.confirm import Confirmation, counted, is_confirmed, render_confirmation
from chs_site.errors import ApplicationError, ValidationFailed
from chs_site.http import AuthedRequest
from playbooks.selectors.playbooks import publish_effects
from scoring import forms, validation
from scoring.models import BackfillJob, Measure, QuarantinedAccount, Scorecard
from scoring.publish_outlook import publish_outlook
from scoring.selectors import segment as segment_selectors
from scoring.selectors.backfill import backfill_scope
from scoring.selectors.preview import (
    DraftPreview,
    data_version,
    preview_backtest,
    preview_draft,
    spec_scoring_today,
)
from scoring.selectors.scorecards import scorecard_spec
from scoring.services import backfill, outcomes, quarantine, scorecards, segment_settings
from scoring.services.segment_rollup import ACTIVE_USERS, EVENTS, event_metric_key
from scoring.tasks import fit_churn_model


def _require_admin(request: AuthedRequest) -> None:
    if not request.user.is_admin:
        raise DjangoPermissionDenied("Only admins may change scorecards.")


def _get_scorecard(pk: int) -> Scorecard:
    return get_object_or_404(
        Scorecard.objects.select_related("created_by", "published_by", "based_on"), pk=pk
    )


def _visible_ids(request: AuthedRequest) -> set[int] | None:
    if request.user.is_admin:
        return None
    return set(visible_accounts(request.user).values_list("id", flat=True))


def _error_text(exc: ApplicationError) -> str:
    if isinstance(exc, ValidationFailed) and getattr(exc, "errors", None):
        parts = [e.get("message") or f"{e.get('field')}: {e.get('reason')}" for e in exc.errors]
        return str(exc) if not parts else "; ".join(str(p) for p in parts)
    return str(exc)


# --- scorecards ---------------------------------------------------------------------------


@login_required
@require_GET
def scorecard_list(request: AuthedRequest) -> HttpResponse:
    cards = list(
        Scorecard.objects.select_related("created_by", "published_by")
        .prefetch_related(Prefetch("measures", queryset=Measure.objects.select_related("metric")))
        .order_by("segment", "-version")
    )
    segments: dict[str, list[Scorecard]] = {}
    for card in cards:
        segments.setdefault(card.segment, []).append(card)
    groups = [
        {
            "segment": segment,
            "active": next((c for c in versions if c.status == Scorecard.Status.ACTIVE), None),
            "drafts": [c for c in versions if c.status == Scorecard.Status.DRAFT],
            "versions": versions,
        }
        for segment, versions in segments.items()
    ]
    # The segment field suggests the accounts' segments that have no scorecard of their own.
    suggestions = sorted(s for s in segment_sizes(request.user) if s and s not in segments)
    return render(
        request, "scoring/scorecards.html", {"groups": groups, "segment_suggestions": suggestions}
    )


@login_required
@require_GET
def scorecard_detail(request: AuthedRequest, pk: int) -> HttpResponse:
    card = _get_scorecard(pk)
    measures = list(card.measures.select_related("metric"))
    history = list(
        Scorecard.objects.filter(segment=card.segment)
        .select_related("created_by", "published_by", "based_on")
        .order_by("-version")
    )
    jobs = list(card.backfills.select_related("created_by")[:5])
    return render(
        request,
        "scoring/scorecard_detail.html",
        {
            "card": card,
            "measures": measures,
            "history": history,
            "jobs": jobs,
            "backfill_form": forms.BackfillForm(),
            "can_edit": request.user.is_admin,
        },
    )


@login_required
@require_POST
def scorecard_new_draft(request: AuthedRequest, pk: int) -> HttpResponse:
    """A new draft copying this version (the starting point of every edit)."""
    _require_admin(request)
    card = _get_scorecard(pk)
    existing = Scorecard.objects.filter(
        segment=card.segment, status=Scorecard.Status.DRAFT, based_on=card
    ).first()
    if existing is not None:
        messages.info(request, f"Continuing the open draft v{existing.version}.")
        return redirect("scoring:edit", pk=existing.pk)
    try:
        draft = scorecards.update_scorecard_draft(scorecard=card, author=request.user, data={})
    except ApplicationError as exc:
        messages.error(request, _error_text(exc))
        return redirect("scoring:detail", pk=card.pk)
    messages.success(request, f"Draft v{draft.version} created from v{card.version}.")
    return redirect("scoring:edit", pk=draft.pk)


@login_required
@require_POST
def scorecard_new_segment(request: AuthedRequest) -> HttpResponse:
    """A first draft for a segment without its own scorecard, copying the default's active
    version (then edited like any draft)."""
    _require_admin(request)
    form = forms.SegmentForm(request.POST)
    if not form.is_valid():
        messages.error(request, "New segment scorecard: " + _form_errors(form))
        return redirect("scoring:scorecards")
    segment = form.cleaned_data["segment"]
    source = Scorecard.objects.filter(segment="", status=Scorecard.Status.ACTIVE).first()
    if source is None:
        messages.error(request, "Publish a default scorecard first; segment ones start from it.")
        return redirect("scoring:scorecards")
    measures = scorecards.measures_of(source)
    try:
        draft = scorecards.create_scorecard_draft(
            name=f"{segment} health",
            segment=segment,
            red_below=source.red_below,
            green_at=source.green_at,
            missing_data=source.missing_data,
            measures=measures,
            author=request.user,
            based_on=source,
        )
    except ApplicationError as exc:
        messages.error(request, _error_text(exc))
        return redirect("scoring:scorecards")
    messages.success(request, f"Draft for segment {segment} created from the default.")
    return redirect("scoring:edit", pk=draft.pk)


def _preview_context(
    request: AuthedRequest, card: Scorecard, spec: Any, *, lead_days: int
) -> dict[str, Any]:
    version = data_version()
    preview: DraftPreview = preview_draft(
        draft=card, spec=spec, visible_ids=_visible_ids(request), version=version
    )
    # The same comparison as the preview: the version that scores these accounts today.
    active_spec, _ = spec_scoring_today(card.segment)
    pair = preview_backtest(
        draft=card, spec=spec, active_spec=active_spec, lead_days=lead_days, version=version
    )
    draft_bands = {b.band: b for b in pair.draft.bands}
    active_bands = {b.band: b for b in pair.active.bands} if pair.active else {}
    band_rows = [
        (validation.BAND_LABELS[band], active_bands.get(band), draft_bands.get(band))
        for band in validation.BANDS
        if band in draft_bands or band in active_bands
    ]
    # What the playbooks would do about the draft's changes (they decide, not scoring).
    effects = publish_effects(preview.changes, at=preview.at)
    return {
        "card": card,
        "preview": preview,
        "effects": effects,
        "effect_tasks": sum(e.tasks for e in effects),
        "band_rows": band_rows,
        "metrics": pair.draft,
        "active_metrics": pair.active,
        "lead_days": lead_days,
        "band_chart": charts.band_comparison_svg(
            before=preview.before.counts,
            after=preview.after.counts,
            before_label="Active",
            after_label="Draft",
        ),
        "histogram_chart": charts.score_histogram_svg(
            before=preview.before.histogram,
            after=preview.after.histogram,
            before_label="Active",
            after_label="Draft",
        ),
    }


@login_required
@require_http_methods(["GET", "POST"])
def scorecard_edit(request: AuthedRequest, pk: int) -> HttpResponse:
    """The draft editor. GET shows the draft (read-only for non-admins) and its preview;
    POST saves the draft (admins)."""
    card = _get_scorecard(pk)
    if card.status != Scorecard.Status.DRAFT:
        messages.info(request, f"v{card.version} is {card.status}; start a new draft to edit.")
        return redirect("scoring:detail", pk=card.pk)
    if request.method == "POST":
        _require_admin(request)
        form, formset, names = forms.editor_forms(card, request.POST)
        if form.is_valid() and formset.is_valid():
            try:
                scorecards.update_scorecard_draft(
                    scorecard=card, author=request.user, data=forms.draft_data(form, formset)
                )
            except ApplicationError as exc:
                form.add_error(None, _error_text(exc))
            else:
                messages.success(request, f"Draft v{card.version} saved.")
                if request.POST.get("then") == "publish":
                    # The editor's Publish button saves the form first, so edits made
                    # since the last save are never lost; publishing still asks to confirm.
                    return redirect("scoring:publish", pk=card.pk)
                return redirect("scoring:edit", pk=card.pk)
        status = 400
    else:
        form, formset, names = forms.editor_forms(card)
        status = 200
    context: dict[str, Any] = {
        "card": card,
        "form": form,
        "formset": formset,
        "weight_shares": forms.weight_shares(formset),
        "can_edit": request.user.is_admin,
        "preview_url": reverse("scoring:preview", args=[card.pk]),
    }
    if status == 200:
        context.update(
            _preview_context(
                request,
                card,
                scorecard_spec(card),
                lead_days=validation.LEAD_DAYS_DEFAULT,
            )
        )
    return render(request, "scoring/scorecard_edit.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def scorecard_preview(request: AuthedRequest, pk: int) -> HttpResponse:
    """The live preview. POST: the editor's current (unsaved) values, as the admin types
    (nothing is written, so anyone who may read may preview); GET: the saved draft."""
    card = _get_scorecard(pk)
    if request.method == "POST":
        form, formset, names = forms.editor_forms(card, request.POST)
        if not (form.is_valid() and formset.is_valid()):
            return render(
                request,
                "scoring/scorecard_edit.html#preview",
                {"card": card, "form": form, "formset": formset, "invalid": True},
            )
        spec = forms.spec_from_forms(card, form, formset, names)
    else:
        if not request.htmx:
            # Without JavaScript the editor page itself shows the saved draft's preview.
            return redirect("scoring:edit", pk=card.pk)
        spec = scorecard_spec(card)
    context = _preview_context(request, card, spec, lead_days=validation.LEAD_DAYS_DEFAULT)
    return render(request, "scoring/scorecard_edit.html#preview", context)


def _publish_consequences(card: Scorecard, *, verb: str) -> list[str]:
    """What making ``card``'s content active does, in sentences (the numbers the editor's
    preview and the API's dry run show)."""
    outlook = publish_outlook(card)
    lines = [
        f"{verb} re-scores {counted(outlook.accounts, 'account')} "
        f"(compared with {outlook.compared_with}).",
        f"{counted(outlook.moved, 'account')} move{'s' if outlook.moved == 1 else ''} "
        "to another band.",
        f"Playbooks create {counted(outlook.tasks, 'task')}.",
    ]
    lines += [
        f"{e.name}: {counted(e.tasks, 'task')} for {counted(e.accounts, 'account')}."
        for e in outlook.effects
    ]
    return lines


def _publish_confirmation(card: Scorecard) -> Confirmation:
    if card.status != Scorecard.Status.DRAFT:
        raise ApplicationError(f"Only a draft can be published; this version is {card.status}.")
    return Confirmation(
        title=f"Publish {card.name} v{card.version}",
        question=f"Publish v{card.version}?",
        consequences=_publish_consequences(card, verb=f"Publishing v{card.version}"),
        action_url=reverse("scoring:publish", args=[card.pk]),
        submit_label=f"Publish v{card.version}",
        cancel_url=reverse("scoring:edit", args=[card.pk]),
    )


@login_required
@require_http_methods(["GET", "POST"])
def scorecard_publish(request: AuthedRequest, pk: int) -> HttpResponse:
    """GET: what publishing will do; POST with the confirm field: publish."""
    _require_admin(request)
    card = _get_scorecard(pk)
    try:
        if request.method == "GET" or not is_confirmed(request):
            return render_confirmation(
                request, _publish_confirmation(card), refused=request.method == "POST"
            )
        scorecards.publish_scorecard(scorecard=card, author=request.user)
    except ApplicationError as exc:
        messages.error(request, _error_text(exc))
        return redirect("scoring:detail", pk=card.pk)
    messages.success(
        request, f"v{card.version} is now active; the accounts it scores are being re-scored."
    )
    return redirect("scoring:detail", pk=card.pk)


def _rollback_confirmation(card: Scorecard) -> Confirmation:
    if card.status == Scorecard.Status.ACTIVE:
        raise ApplicationError(f"Version {card.version} is already the active version.")
    if card.status == Scorecard.Status.DRAFT:
        raise ApplicationError("A draft has never been active; publish it instead.")
    return Confirmation(
        title=f"Roll back {card.name} to v{card.version}",
        question=f"Roll back to v{card.version}?",
        consequences=[
            f"A new version copying v{card.version} becomes active; the active one is retired.",
            *_publish_consequences(card, verb="Rolling back"),
        ],
        action_url=reverse("scoring:rollback", args=[card.pk]),
        submit_label=f"Roll back to v{card.version}",
        cancel_url=reverse("scoring:detail", args=[card.pk]),
        danger=True,
    )


@login_required
@require_http_methods(["GET", "POST"])
def scorecard_rollback(request: AuthedRequest, pk: int) -> HttpResponse:
    """GET: what rolling back will do; POST with the confirm field: roll back."""
    _require_admin(request)
    card = _get_scorecard(pk)
    try:
        if request.method == "GET" or not is_confirmed(request):
            return render_confirmation(
                request, _rollback_confirmation(card), refused=request.method == "POST"
            )
        new = scorecards.rollback_scorecard(scorecard=card, author=request.user)
    except ApplicationError as exc:
        messages.error(request, _error_text(exc))
        return redirect("scoring:detail", pk=card.pk)
    messages.success(
        request, f"Rolled back: v{new.version} (a copy of v{card.version}) is now active."
    )
    return redirect("scoring:detail", pk=new.pk)


def _backfill_confirmation(card: Scorecard, days: int) -> Confirmation:
    if card.status != Scorecard.Status.ACTIVE:
        raise ApplicationError("Only the active version can backfill history; publish it first.")
    scope = backfill_scope(scorecard=card, days=days, today=timezone.now().date())
    return Confirmation(
        title=f"Backfill {card.name} v{card.version}",
        question=f"Rewrite {counted(days, 'day')} of score history?",
        consequences=[
            f"Every day from {scope.start:%Y-%m-%d} to {scope.end - timedelta(days=1):%Y-%m-%d}"
            f" is re-scored with v{card.version} for {counted(scope.accounts, 'account')}.",
            f"{counted(scope.rows_replaced, 'stored history row')} in that period "
            "are replaced; this cannot be undone.",
        ],
        action_url=reverse("scoring:backfill", args=[card.pk]),
        submit_label="Start backfill",
        cancel_url=reverse("scoring:detail", args=[card.pk]),
        fields=[("days", days)],
        danger=True,
    )


@login_required
@require_http_methods(["GET", "POST"])
def scorecard_backfill(request: AuthedRequest, pk: int) -> HttpResponse:
    """GET ?days=N: what the backfill will rewrite; POST with the confirm field: start it."""
    _require_admin(request)
    card = _get_scorecard(pk)
    form = forms.BackfillForm(request.POST if request.method == "POST" else request.GET)
    if not form.is_valid():
        messages.error(
            request, "Backfill: " + "; ".join(str(e) for e in form.errors.get("days", []))
        )
        return redirect("scoring:detail", pk=card.pk)
    days = form.cleaned_data["days"]
    try:
        if request.method == "GET" or not is_confirmed(request):
            return render_confirmation(
                request, _backfill_confirmation(card, days), refused=request.method == "POST"
            )
        job = backfill.start_backfill(scorecard=card, days=days, author=request.user)
    except ApplicationError as exc:
        messages.error(request, _error_text(exc))
        return redirect("scoring:detail", pk=card.pk)
    messages.success(request, f"Backfill of {job.days} days started.")
    return redirect("scoring:backfill_job", pk=job.pk)


def _backfill_progress(request: AuthedRequest, job: BackfillJob) -> HttpResponse:
    template = "scoring/backfill_job.html#progress" if request.htmx else "scoring/backfill_job.html"
    # Without a worker the page runs the job: each answer asks for the next step.
    context = {"job": job, "page_runs_it": runs_in_process() and request.user.is_admin}
    return render(request, template, context)


@login_required
@require_GET
def backfill_job(request: AuthedRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(BackfillJob.objects.select_related("scorecard", "created_by"), pk=pk)
    return _backfill_progress(request, job)


@login_required
@require_POST
def backfill_step(request: AuthedRequest, pk: int) -> HttpResponse:
    """Run the next chunk of a job that no worker runs (the embedded default) and show the
    progress; the progress fragment asks for the next step until the job is done."""
    _require_admin(request)
    job = get_object_or_404(BackfillJob, pk=pk)
    if not runs_in_process():
        raise Http404("A worker runs backfills here; this page only shows their progress.")
    job = backfill.run_backfill_step(job_id=job.pk)
    if not request.htmx:
        return redirect("scoring:backfill_job", pk=job.pk)
    return _backfill_progress(request, job)


@login_required
@require_POST
def scorecard_suggest(request: AuthedRequest, pk: int) -> HttpResponse:
    """One click: a draft with the suggested weights."""
    _require_admin(request)
    card = _get_scorecard(pk)
    try:
        draft = validation.create_draft_from_suggestion(scorecard=card, author=request.user)
    except ApplicationError as exc:
        messages.error(request, _error_text(exc))
        return redirect(f"{reverse('scoring:validation')}?scorecard={card.pk}")
    messages.success(request, f"Draft v{draft.version} created with the suggested weights.")
    return redirect("scoring:edit", pk=draft.pk)


# --- validation ---------------------------------------------------------------------------


@login_required
@require_GET
def validation_page(request: AuthedRequest) -> HttpResponse:
    form = forms.ValidationForm(request.GET or None)
    card = None
    lead_days = validation.LEAD_DAYS_DEFAULT
    if form.is_valid():
        card = form.cleaned_data.get("scorecard")
        lead_days = form.cleaned_data.get("lead_days") or lead_days
    if card is None:
        card = Scorecard.objects.filter(status=Scorecard.Status.ACTIVE).order_by("segment").first()
    context: dict[str, Any] = {
        "form": form,
        "card": card,
        "lead_days": lead_days,
        "can_edit": request.user.is_admin,
        "churn_model": validation.current_churn_model(),
    }
    if card is not None:
        spec = scorecard_spec(card)
        rows = validation.backtest_rows(spec, validation.outcomes_for(card), lead_days=lead_days)
        metrics = validation.backtest_metrics(rows)
        context["metrics"] = metrics
        if metrics.n_outcomes:
            context["band_chart"] = charts.churn_by_band_svg(
                [(b.band, b.label, b.churn_rate) for b in metrics.bands]
            )
            context["calibration_chart"] = charts.calibration_svg(
                [(c.low, c.high, c.churn_rate) for c in metrics.calibration]
            )
        try:
            suggestion = validation.suggest_weights(spec, rows, lead_days=lead_days)
        except ApplicationError as exc:
            context["suggestion_error"] = str(exc)
        else:
            context["suggestion"] = suggestion
            context["weights_chart"] = charts.weights_svg(
                [s.measure.label for s in suggestion.measures],
                [s.current_weight for s in suggestion.measures],
                [s.weight or 0 for s in suggestion.measures],
            )
    return render(request, "scoring/validation.html", context)


@login_required
@require_POST
def churn_model_refit(request: AuthedRequest) -> HttpResponse:
    _require_admin(request)
    send_on_commit(fit_churn_model, False)
    messages.success(request, "Refitting the churn model in the background.")
    return redirect("scoring:validation")


# --- quarantine: accounts the recompute set aside --------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def quarantine_page(request: AuthedRequest) -> HttpResponse:
    """Admins only (anyone else: 404, the page does not exist for them)."""
    if not request.user.is_admin:
        raise Http404
    if request.method == "POST":
        rows = QuarantinedAccount.objects.all()
        if not request.POST.get("all"):
            try:
                rows = rows.filter(account_id=int(request.POST.get("account", "")))
            except ValueError:
                rows = rows.none()
        released = quarantine.release(rows.values_list("account_id", flat=True))
        if released:
            messages.success(
                request,
                f"{released} account{'s' if released != 1 else ''} will be scored again now;"
                " one that fails again comes back here.",
            )
        return redirect("scoring:quarantine")
    rows = QuarantinedAccount.objects.select_related("account")
    return render(request, "scoring/quarantine.html", {"rows": list(rows)})


# --- product analytics: the Segment endpoint's settings --------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def product_analytics(request: AuthedRequest) -> HttpResponse:
    """Admins only (anyone else: 404): switch the Segment endpoint on, say which traits name
    the account, pick the events counted per day; see how the roll-up keeps up."""
    if not request.user.is_admin:
        raise Http404
    config = segment_selectors.segment_settings()
    names = sorted({*segment_selectors.seen_event_names(), *config.tracked_events})
    initial = {
        "enabled": config.enabled,
        "group_trait": config.group_trait,
        "identify_trait": config.identify_trait,
        "tracked_events": config.tracked_events,
    }
    data = request.POST if request.method == "POST" else None
    form = forms.SegmentIngestForm(data, initial=initial, event_names=names)
    if request.method == "POST" and form.is_valid():
        try:
            segment_settings.update_segment_settings(
                actor=request.user,
                enabled=form.cleaned_data["enabled"],
                group_trait=form.cleaned_data["group_trait"],
                identify_trait=form.cleaned_data["identify_trait"],
                tracked_events=form.selected_events(),
            )
        except ApplicationError as exc:
            form.add_error(None, _error_text(exc))
        else:
            messages.success(request, "Product analytics settings saved.")
            return redirect("scoring:product_analytics")
    pending, oldest = segment_selectors.pending_events()
    return render(
        request,
        "scoring/product_analytics.html",
        {
            "form": form,
            "config": config,
            "pending": pending,
            "oldest_pending": oldest,
            "endpoint": request.build_absolute_uri(reverse("api-segment")),
            "metric_keys": [ACTIVE_USERS, EVENTS],
            "event_metrics": [(n, event_metric_key(n)) for n in config.tracked_events],
        },
    )


# --- outcomes, entered on the account page ---------------------------------------------------


@login_required
@require_POST
def record_outcome(request: AuthedRequest, external_id: str) -> HttpResponse:
    account = get_account_for_user(request.user, external_id)
    form = forms.OutcomeForm(request.POST)
    if form.is_valid():
        try:
            outcomes.record_outcome(
                user=request.user,
                account=account,
                kind=form.cleaned_data["kind"],
                occurred_at=form.cleaned_data["occurred_at"],
                arr_change=form.cleaned_data["arr_change"] or 0,
                note=form.cleaned_data["note"],
            )
        except ApplicationError as exc:
            form.add_error(None, _error_text(exc))
        else:
            send_on_commit(fit_churn_model, True)
            messages.success(request, "Outcome recorded.")
            if request.htmx:
                response = HttpResponse(status=204)
                response["HX-Redirect"] = account.get_absolute_url()
                return response
            return redirect(account.get_absolute_url())
    if request.htmx:
        return render(
            request,
            "scoring/_outcomes.html",
            {"account": account, "outcome_form": form, "outcomes": account.outcomes.all()},
            status=400,
        )
    messages.error(request, "The outcome was not recorded: " + _form_errors(form))
    return redirect(account.get_absolute_url())


def _form_errors(form: Any) -> str:
    return "; ".join(
        f"{'' if field == '__all__' else field + ': '}{' '.join(errs)}"
        for field, errs in form.errors.items()
    )
