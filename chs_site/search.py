"""The global search (the header's box, ``/`` from any page): accounts by name, domain or
external id, contacts by name or email, tasks by title, each in the user's scope.

It reads accounts' and playbooks' selectors, so it lives with the project's URLs, above
the apps (like ``chs_site.navigation``)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.selectors.search import SEARCH_MAX_LENGTH, search_accounts, search_contacts
from chs_site.http import AuthedRequest
from playbooks.selectors.tasks import search_tasks

# Per group: the header's drop-down shows a few, the results page more.
PREVIEW_LIMIT = 5
PAGE_LIMIT = 50


@login_required
@require_GET
def search(request: AuthedRequest) -> HttpResponse:
    """Results grouped by kind; the drop-down (htmx) or the full page (no JavaScript)."""
    text = " ".join(request.GET.get("q", "").split())
    error = ""
    if len(text) > SEARCH_MAX_LENGTH:
        error = f"Search for at most {SEARCH_MAX_LENGTH} characters; this has {len(text)}."
    elif "\x00" in text:
        error = "The search text contains a NUL character; type it again."
    limit = PREVIEW_LIMIT if request.htmx else PAGE_LIMIT
    groups: list[tuple[str, str, list[object]]] = []
    if text and not error:
        user = request.user
        groups = [
            ("accounts", "Accounts", list(search_accounts(user, text, limit=limit))),
            ("contacts", "Contacts", list(search_contacts(user, text, limit=limit))),
            ("tasks", "Tasks", list(search_tasks(user, text, limit=limit))),
        ]
    context = {
        "q": text,
        "error": error,
        "groups": groups,
        "limit": limit,
        "found": any(items for _, _, items in groups),
    }
    template = "search.html#results" if request.htmx else "search.html"
    return render(request, template, context, status=400 if error else 200)
