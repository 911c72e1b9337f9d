"""The Webhooks page (admins only; anyone else gets a 404): endpoints, the secret shown
once, each endpoint's recent deliveries, test sends, enable/disable and replays."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from chs_site.confirm import Confirmation, is_confirmed, render_confirmation
from chs_site.errors import ApplicationError
from chs_site.http import AuthedRequest
from outbound.forms import EndpointForm
from outbound.models import Delivery, Endpoint
from outbound.selectors import endpoints_with_counts, recent_deliveries
from outbound.services import delivery as delivery_services
from outbound.services import subscriptions


def _admin_only(request: AuthedRequest) -> None:
    if not request.user.is_admin:
        raise Http404("No such page.")


@login_required
@require_http_methods(["GET", "POST"])
def webhooks(request: AuthedRequest) -> HttpResponse:
    _admin_only(request)
    form = EndpointForm(request.POST or None)
    new_secret = None
    if request.method == "POST" and form.is_valid():
        try:
            issued = subscriptions.create_endpoint(
                actor=request.user,
                url=form.cleaned_data["url"],
                event_types=form.cleaned_data["event_types"],
                description=form.cleaned_data["description"],
            )
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            new_secret = issued.secret
            messages.success(
                request, "Endpoint added. Copy its signing secret now: it is not shown again."
            )
            form = EndpointForm()
    return render(
        request,
        "outbound/webhooks.html",
        {"form": form, "endpoints": list(endpoints_with_counts()), "new_secret": new_secret},
        status=400 if request.method == "POST" and new_secret is None else 200,
    )


@login_required
@require_GET
def endpoint(request: AuthedRequest, pk: int) -> HttpResponse:
    _admin_only(request)
    ep = get_object_or_404(Endpoint.objects.select_related("owner"), pk=pk)
    context = {"endpoint": ep, "deliveries": recent_deliveries(ep)}
    if request.htmx:
        return render(request, "outbound/endpoint.html#deliveries", context)
    return render(request, "outbound/endpoint.html", context)


@login_required
@require_POST
def endpoint_toggle(request: AuthedRequest, pk: int) -> HttpResponse:
    _admin_only(request)
    ep = get_object_or_404(Endpoint, pk=pk)
    ep = subscriptions.update_endpoint(actor=request.user, endpoint=ep, enabled=not ep.enabled)
    messages.success(request, f"Endpoint {'enabled' if ep.enabled else 'disabled'}.")
    return redirect(ep.get_absolute_url())


@login_required
@require_POST
def endpoint_test(request: AuthedRequest, pk: int) -> HttpResponse:
    _admin_only(request)
    ep = get_object_or_404(Endpoint, pk=pk)
    try:
        delivery_services.send_test(endpoint=ep)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Test event queued; its delivery appears below.")
    return redirect(ep.get_absolute_url())


@login_required
@require_http_methods(["GET", "POST"])
def endpoint_delete(request: AuthedRequest, pk: int) -> HttpResponse:
    _admin_only(request)
    ep = get_object_or_404(Endpoint, pk=pk)
    if request.method == "GET" or not is_confirmed(request):
        confirmation = Confirmation(
            title="Delete endpoint",
            question=f"Delete the endpoint {ep.url}?",
            consequences=[
                "CHS stops sending events to it, including deliveries still waiting.",
                "Its delivery history is deleted with it.",
            ],
            action_url=reverse("outbound:endpoint_delete", args=[ep.pk]),
            submit_label="Delete endpoint",
            cancel_url=ep.get_absolute_url(),
            danger=True,
        )
        return render_confirmation(request, confirmation, refused=request.method == "POST")
    subscriptions.delete_endpoint(actor=request.user, endpoint=ep)
    messages.success(request, "Endpoint deleted.")
    return redirect("outbound:webhooks")


@login_required
@require_http_methods(["GET", "POST"])
def delivery_replay(request: AuthedRequest, pk: int) -> HttpResponse:
    _admin_only(request)
    delivery = get_object_or_404(Delivery.objects.select_related("endpoint", "event"), pk=pk)
    back = delivery.endpoint.get_absolute_url()
    if request.method == "GET" or not is_confirmed(request):
        confirmation = Confirmation(
            title="Send again",
            question=f"Send {delivery.event.type} ({delivery.event.event_id}) again?",
            consequences=[
                f"CHS posts the same payload to {delivery.endpoint.url} now, with the same "
                "webhook-id (receivers that deduplicate on it will ignore it).",
                "If it fails, it is retried for another day.",
            ],
            action_url=reverse("outbound:delivery_replay", args=[delivery.pk]),
            submit_label="Send again",
            cancel_url=back,
        )
        return render_confirmation(request, confirmation, refused=request.method == "POST")
    try:
        delivery_services.replay(delivery=delivery, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Delivery queued again.")
    return redirect(back)
