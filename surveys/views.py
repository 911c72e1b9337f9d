"""Pages: the surveys and campaigns list, a new survey, sending a campaign (with a live
count of who it reaches and a confirmation), a campaign's results; and the two public pages
a recipient reaches from the email (answer, unsubscribe), which need no sign-in."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from chs_site.charts import answer_distribution_svg
from chs_site.confirm import Confirmation, counted, is_confirmed, render_confirmation
from chs_site.errors import ApplicationError, ValidationFailed
from chs_site.http import AuthedRequest
from surveys.forms import AnswerForm, AudienceForm, SurveyForm
from surveys.models import Survey, SurveyKind
from surveys.selectors import (
    audience,
    campaign_list,
    campaign_results,
    get_campaign_for_user,
    segment_names,
    visible_recipients,
)
from surveys.services.answers import (
    AlreadyAnswered,
    LinkInvalid,
    answer_survey,
    open_survey,
    recipient_for_unsubscribe,
    unsubscribe,
)
from surveys.services.campaigns import start_campaign
from surveys.services.definitions import create_survey

RECIPIENTS_PER_PAGE = 50


def _require_admin(request: AuthedRequest) -> None:
    if not request.user.is_admin:
        raise Http404("Only admins manage surveys.")


def _add_errors(form: Form, exc: ApplicationError) -> None:
    """A service's errors on the form fields they name (the rest above the form)."""
    errors = exc.errors if isinstance(exc, ValidationFailed) else []
    for error in errors:
        field = error.get("field")
        form.add_error(field if field in form.fields else None, error["reason"])
    if not errors:
        form.add_error(None, exc.message)


@login_required
@require_GET
def survey_list(request: AuthedRequest) -> HttpResponse:
    surveys = list(Survey.objects.all()) if request.user.is_admin else []
    return render(
        request,
        "surveys/survey_list.html",
        {"surveys": surveys, "campaigns": campaign_list(request.user)},
    )


@login_required
@require_http_methods(["GET", "POST"])
def survey_new(request: AuthedRequest) -> HttpResponse:
    _require_admin(request)
    form = SurveyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            survey = create_survey(actor=request.user, **form.cleaned_data)
        except ApplicationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, f"Survey “{survey.name}” created. Choose who gets it.")
            return redirect(survey.get_absolute_url())
    status = 400 if request.method == "POST" else 200
    return render(request, "surveys/survey_new.html", {"form": form}, status=status)


def _send_confirmation(survey: Survey, form: AudienceForm, found: Any) -> Confirmation:
    left_out = []
    if found.opted_out:
        left_out.append(f"{counted(found.opted_out, 'contact')} unsubscribed")
    if found.throttled:
        left_out.append(f"{counted(found.throttled, 'contact')} surveyed recently")
    consequences = [
        f"{counted(len(found.members), 'contact')} at {counted(found.accounts, 'account')} "
        f"will get an email with a link to “{survey.question}”.",
        "Each answer is logged as feedback on the account and moves its health score.",
    ]
    if left_out:
        consequences.append("Left out: " + ", ".join(left_out) + ".")
    return Confirmation(
        title=f"Send “{survey.name}”",
        question=f"Send “{survey.name}” to {counted(len(found.members), 'contact')}?",
        consequences=consequences,
        action_url=reverse("surveys:survey_send", args=[survey.pk]),
        submit_label="Send the survey",
        cancel_url=reverse("surveys:survey_send", args=[survey.pk]),
        fields=form.hidden_fields_for_confirmation(),
    )


@login_required
@require_http_methods(["GET", "POST"])
def survey_send(request: AuthedRequest, pk: int) -> HttpResponse:
    """GET: the filters and how many contacts they reach (the count alone for htmx); with
    ``review``: the confirmation. POST with the confirm field: queue the campaign (without
    it: refused, nothing sent)."""
    _require_admin(request)
    survey = Survey.objects.filter(pk=pk).first()
    if survey is None:
        raise Http404("No such survey.")
    now = timezone.now()
    # Always bound: no filter ticked is a valid choice (everybody), and its count is shown.
    data = request.POST if request.method == "POST" else request.GET
    form = AudienceForm(data, segments=segment_names())
    found = audience(form.filters(), now=now) if form.is_valid() else None
    reviewing = request.method == "POST" or "review" in request.GET
    if found is not None and reviewing:
        if not is_confirmed(request):
            confirmation = _send_confirmation(survey, form, found)
            return render_confirmation(request, confirmation, refused=request.method == "POST")
        try:
            campaign = start_campaign(
                actor=request.user, survey=survey, filters=form.filters(), now=now
            )
        except ApplicationError as exc:
            _add_errors(form, exc)
        else:
            recipients = counted(campaign.recipients.count(), "contact")
            messages.success(request, f"Sending “{survey.name}” to {recipients}.")
            return redirect(campaign.get_absolute_url())
    context = {
        "survey": survey,
        "form": form,
        "found": found,
        "throttle_days": settings.SURVEY_THROTTLE_DAYS,
    }
    if request.htmx and not reviewing:
        return render(request, "surveys/survey_send.html#reach", context)
    status = 400 if form.errors else 200
    return render(request, "surveys/survey_send.html", context, status=status)


@login_required
@require_GET
def campaign_detail(request: AuthedRequest, pk: int) -> HttpResponse:
    campaign = get_campaign_for_user(request.user, pk)
    recipients = visible_recipients(request.user).filter(campaign=campaign)
    results = campaign_results(campaign, recipients)
    label = "NPS" if results.kind == SurveyKind.NPS else "CSAT"
    page = Paginator(
        recipients.select_related("account").order_by("id"), RECIPIENTS_PER_PAGE
    ).get_page(request.GET.get("page"))
    context = {
        "campaign": campaign,
        "survey": campaign.survey,
        "results": results,
        "chart": answer_distribution_svg(results.distribution, title=f"{label} answers"),
        "comments": list(
            recipients.filter(answered_at__isnull=False)
            .exclude(comment="")
            .select_related("account")
            .order_by("-answered_at")[:100]
        ),
        "page": page,
        "target": "#recipients",
    }
    if request.htmx:
        fragment = "recipients" if request.GET.get("page") else "results"
        return render(request, f"surveys/campaign_detail.html#{fragment}", context)
    return render(request, "surveys/campaign_detail.html", context)


# --- public pages (the links in the email) ----------------------------------------------------


def _link_refused(request: HttpRequest, exc: ApplicationError) -> HttpResponse:
    answered = isinstance(exc, AlreadyAnswered)
    return render(
        request,
        "surveys/public_refused.html",
        {"answered": answered},
        status=410 if answered else 404,
    )


@require_http_methods(["GET", "POST"])
def answer(request: HttpRequest, token: str) -> HttpResponse:
    """The survey, for the person the link was sent to. No sign-in; works without
    JavaScript; a link that was used is refused with a page that says so."""
    try:
        recipient = open_survey(token=token)
    except (LinkInvalid, AlreadyAnswered) as exc:
        return _link_refused(request, exc)
    survey = recipient.campaign.survey
    form = AnswerForm(request.POST or None, kind=survey.kind, follow_up=survey.follow_up)
    if request.method == "POST" and form.is_valid():
        try:
            answer_survey(
                token=token,
                score=form.cleaned_data["score"],
                comment=form.cleaned_data["comment"],
            )
        except (LinkInvalid, AlreadyAnswered) as exc:
            return _link_refused(request, exc)
        except ApplicationError as exc:
            _add_errors(form, exc)
        else:
            return render(request, "surveys/public_thanks.html", {"survey": survey})
    context = {
        "survey": survey,
        "form": form,
        "low_label": "Not at all likely" if survey.kind == SurveyKind.NPS else "Very dissatisfied",
        "high_label": "Extremely likely" if survey.kind == SurveyKind.NPS else "Very satisfied",
    }
    return render(
        request,
        "surveys/public_answer.html",
        context,
        status=400 if request.method == "POST" else 200,
    )


# Mail clients post RFC 8058's one-click unsubscribe without a CSRF token; the signed
# token in the URL is what authorises it, and unsubscribing twice changes nothing.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe_view(request: HttpRequest, token: str) -> HttpResponse:
    """GET asks (a link scanner must not unsubscribe anybody); POST unsubscribes."""
    try:
        recipient = (
            unsubscribe(token=token)
            if request.method == "POST"
            else recipient_for_unsubscribe(token=token)
        )
    except LinkInvalid as exc:
        return _link_refused(request, exc)
    return render(
        request,
        "surveys/public_unsubscribe.html",
        {"email": recipient.email, "done": request.method == "POST"},
    )
