"""The Connectors page and its actions; admins only (everyone else gets a 404)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import HttpResponseClientRefresh

from accounts.models import User
from chs_site.confirm import Confirmation, is_confirmed, render_confirmation
from chs_site.errors import ApplicationError, ValidationFailed
from chs_site.http import AuthedRequest
from connectors import selectors
from connectors.forms import ConnectorForm
from connectors.models import Connector, ConnectorKind
from connectors.registry import KINDS, connector_type
from connectors.services import configuration, syncs


def _admin_only(user: User) -> None:
    if not user.is_admin:
        raise Http404("No such page.")


def _connector(user: User, pk: int) -> Connector:
    _admin_only(user)
    return get_object_or_404(Connector, pk=pk)


@login_required
@require_GET
def connector_list(request: AuthedRequest) -> HttpResponse:
    _admin_only(request.user)
    connectors = selectors.connectors_with_runs()
    context = {
        "connectors": connectors,
        # Without JavaScript the page refreshes itself while a run is under way.
        "running": any(not r.is_finished for c in connectors for r in c.recent_runs),  # type: ignore[attr-defined]
        "kinds": [(k.value, k.label) for k in ConnectorKind if k.value in KINDS],
    }
    return render(request, "connectors/connectors.html", context)


def _apply_errors(form: ConnectorForm, exc: ApplicationError) -> None:
    if isinstance(exc, ValidationFailed) and exc.errors:
        for error in exc.errors:
            field = error.get("field")
            form.add_error(field if field in form.fields else None, error["reason"])
    else:
        form.add_error(None, exc.message)


@login_required
@require_http_methods(["GET", "POST"])
def connector_new(request: AuthedRequest, kind: str) -> HttpResponse:
    _admin_only(request.user)
    if kind not in KINDS:
        raise Http404("No such kind of connector.")
    spec = connector_type(kind)
    form = ConnectorForm(request.POST or None, spec=spec)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            connector = configuration.create_connector(
                actor=request.user,
                kind=kind,
                name=data["name"],
                credential=data["credential"],
                mapping=data["mapping"],
                interval_minutes=data["interval_minutes"],
                enabled=data["enabled"],
                write_back=data.get("write_back", False),
            )
        except ApplicationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(
                request, f"{connector.name} is saved. Its credential is stored encrypted."
            )
            return redirect("connectors:connectors")
    return render(
        request, "connectors/connector_form.html", {"form": form, "spec": spec, "connector": None}
    )


@login_required
@require_http_methods(["GET", "POST"])
def connector_edit(request: AuthedRequest, pk: int) -> HttpResponse:
    connector = _connector(request.user, pk)
    spec = connector_type(connector.kind)
    form = ConnectorForm(request.POST or None, spec=spec, connector=connector)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            configuration.update_connector(
                actor=request.user,
                connector=connector,
                name=data["name"],
                credential=data["credential"],
                mapping=data["mapping"],
                interval_minutes=data["interval_minutes"],
                enabled=data["enabled"],
                write_back=data.get("write_back", False),
            )
        except ApplicationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, f"{connector.name} is saved.")
            return redirect("connectors:connectors")
    return render(
        request,
        "connectors/connector_form.html",
        {"form": form, "spec": spec, "connector": connector},
    )


@login_required
@require_http_methods(["GET", "POST"])
def connector_delete(request: AuthedRequest, pk: int) -> HttpResponse:
    connector = _connector(request.user, pk)
    if request.method == "GET" or not is_confirmed(request):
        confirmation = Confirmation(
            title=f"Delete {connector.name}",
            question=f"Delete the connector {connector.name}?",
            consequences=[
                "Its credential, mapping, schedule and run history are deleted.",
                "Accounts and metric values it wrote stay.",
            ],
            action_url=reverse("connectors:connector_delete", args=[connector.pk]),
            submit_label="Delete connector",
            cancel_url=reverse("connectors:connectors"),
            danger=True,
        )
        return render_confirmation(request, confirmation, refused=request.method == "POST")
    configuration.delete_connector(actor=request.user, connector=connector)
    messages.success(request, f"{connector.name} is deleted.")
    return redirect("connectors:connectors")


@login_required
@require_http_methods(["GET", "POST"])
def connector_sync(request: AuthedRequest, pk: int) -> HttpResponse:
    """GET: what a sync will do; POST with the confirm field: queue it."""
    connector = _connector(request.user, pk)
    if request.method == "GET" or not is_confirmed(request):
        spec = connector_type(connector.kind)
        since = "where the last run stopped" if connector.cursor else "the beginning"
        confirmation = Confirmation(
            title=f"Sync {connector.name} now",
            question=f"Sync {connector.name} now?",
            consequences=[
                f"Reads {spec.label} from {since} and writes what changed.",
                "Accounts"
                + (
                    " are created or updated"
                    if spec.creates_accounts
                    else " it matches are updated"
                )
                + "; their scores are recomputed.",
            ],
            action_url=reverse("connectors:connector_sync", args=[connector.pk]),
            submit_label="Sync now",
            cancel_url=reverse("connectors:connectors"),
        )
        return render_confirmation(request, confirmation, refused=request.method == "POST")
    try:
        syncs.sync_now(actor=request.user, connector=connector)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{connector.name}: the sync has started.")
    return redirect("connectors:connectors")


@login_required
@require_GET
def run_detail(request: AuthedRequest, pk: int, run_pk: int) -> HttpResponse:
    """A run's counts and errors; for htmx, the live progress fragment (the page reloads
    when the run ends, to show its result)."""
    connector = _connector(request.user, pk)
    run = selectors.run_of(connector=connector, run_pk=run_pk)
    if run is None:
        raise Http404("No such run.")
    if request.htmx:
        if run.is_finished:
            return HttpResponseClientRefresh()
        return render(request, "connectors/run.html#progress", {"run": run, "connector": connector})
    return render(request, "connectors/run.html", {"run": run, "connector": connector})
