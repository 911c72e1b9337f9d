"""The Audit log page (admins only; for anyone else it does not exist: 404)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.models import AuditEntry
from accounts.selectors.audit import AuditFilter, audit_entries_for
from chs_site.http import AuthedRequest

PAGE_SIZE = 50


@login_required
@require_GET
def audit_log(request: AuthedRequest) -> HttpResponse:
    if not request.user.is_admin:
        raise Http404("No such page.")
    # The form sends every field; an empty one means "any", not a bad value.
    data = {k: v for k, v in request.GET.items() if k != "page" and str(v).strip()}
    filterset = AuditFilter(data, queryset=audit_entries_for(request.user))
    entries = filterset.qs if filterset.is_valid() else AuditEntry.objects.none()
    paginator: Paginator[AuditEntry] = Paginator(entries.select_related("api_token"), PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    params = request.GET.copy()
    params.pop("page", None)
    rows = list(page.object_list)
    for entry in rows:
        entry.diff_rows = [  # type: ignore[attr-defined]
            (field, _shown(pair[0]), _shown(pair[1])) for field, pair in entry.changes.items()
        ]
    context = {
        "form": filterset.form,
        "page": page,
        "rows": rows,
        "query": params.urlencode(),
        "filtered": bool(data),
    }
    status = 200 if filterset.is_valid() else 400
    template = "accounts/audit_log.html#entries" if request.htmx else "accounts/audit_log.html"
    return render(request, template, context, status=status)


def _shown(value: Any) -> str:
    """A logged value as a person reads it."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(_shown(v) for v in value) or "—"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_shown(v)}" for k, v in value.items()) or "—"
    return str(value)
