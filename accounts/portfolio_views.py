"""The portfolio's saved views and its bulk actions on ticked rows (or all matching ones).

A bulk action is three steps on one URL (``chs_site.confirm``): GET shows its form for the
selection, GET with ``review`` shows what it will do with counts (from the same plan the
action runs), POST with the confirm field acts in one transaction and reports the result on
the portfolio. The selection and the portfolio's filters travel as query parameters, so
every step is a plain link or form that works without JavaScript."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from accounts.forms import OwnerForm, PortfolioFilterForm, SavedViewForm
from accounts.models import Account, Role
from accounts.selectors import saved_views as view_selectors
from accounts.selectors.access import can_reassign_work, visible_users
from accounts.selectors.portfolio import bulk_selection, portfolio_owners, view_query_string
from accounts.services import accounts as account_services
from accounts.services import saved_views as view_services
from chs_site.confirm import Confirmation, counted, is_confirmed, render_confirmation
from chs_site.errors import ApplicationError
from chs_site.http import AuthedRequest
from playbooks.forms import OutreachTaskForm, TaskCreateForm
from playbooks.services import tasks as task_services
from playbooks.services.outreach import OutreachSpec, create_outreach, plan_outreach

# --- saved views -------------------------------------------------------------------------


def _form_errors(form: forms.Form) -> str:
    """The form's errors as one sentence per field, labelled ("View name: …")."""
    return " ".join(
        f"{form.fields[f].label if f in form.fields else 'View'}: "
        + " ".join(str(e) for e in errors)
        for f, errors in form.errors.items()
    )


def _portfolio_url(query: str) -> str:
    return reverse("accounts:portfolio") + (f"?{query}" if query else "?view=all")


@login_required
@require_POST
def save_view(request: AuthedRequest) -> HttpResponse:
    """Save the portfolio's current query under a name (personal, or shared with a team the
    user manages), optionally as the view the portfolio opens with."""
    user = request.user
    form = SavedViewForm(request.POST, teams=view_selectors.shareable_teams(user))
    query = request.POST.get("query", "")
    if not form.is_valid():
        messages.error(request, f"{_form_errors(form)} The view was not saved.")
        return redirect(_portfolio_url(view_query_string(QueryDict(query))))
    try:
        view = view_services.save_view(
            user=user,
            name=form.cleaned_data["name"],
            query=query,
            team=form.cleaned_data["team"],
            make_default=form.cleaned_data["make_default"],
        )
    except ApplicationError as exc:
        messages.error(request, f"{exc.message} The view was not saved.")
        return redirect(_portfolio_url(view_query_string(QueryDict(query))))
    messages.success(
        request,
        f"Saved the view “{view.name}”"
        + (f", shared with {view.team.name}" if view.team else "")
        + (" (your portfolio opens with it)." if form.cleaned_data["make_default"] else "."),
    )
    return redirect(_portfolio_url(view.query))


@login_required
@require_POST
def change_view(request: AuthedRequest, pk: int) -> HttpResponse:
    """One saved view: ``action`` = rename (name, team), delete, default (make it the view
    the portfolio opens with; any visible view) or undefault."""
    user = request.user
    action = request.POST.get("action", "")
    try:
        if action == "default":
            view = view_selectors.get_saved_view_for_user(user, pk)
            view_services.set_default_view(user=user, view=view)
            messages.success(request, f"Your portfolio now opens with “{view.name}”.")
            return redirect(_portfolio_url(view.query))
        if action == "undefault":
            view = view_selectors.get_saved_view_for_user(user, pk)
            view_services.set_default_view(user=user, view=None)
            messages.success(request, "Your portfolio now opens with your whole book.")
            return redirect(_portfolio_url(""))
        view = view_selectors.get_own_saved_view(user, pk)
        if action == "delete":
            view_services.delete_view(user=user, view=view)
            messages.success(request, f"Deleted the view “{view.name}”.")
            return redirect(_portfolio_url(""))
        if action == "rename":
            form = SavedViewForm(request.POST, teams=view_selectors.shareable_teams(user))
            if not form.is_valid():
                raise ApplicationError(_form_errors(form))
            view_services.update_view(
                user=user, view=view, name=form.cleaned_data["name"], team=form.cleaned_data["team"]
            )
            messages.success(request, f"Saved the view “{view.name}”.")
            return redirect(_portfolio_url(view.query))
    except ApplicationError as exc:
        messages.error(request, f"{exc.message} Nothing was changed.")
        return redirect(_portfolio_url(""))
    messages.error(request, "Choose rename, delete or default for the view. Nothing was changed.")
    return redirect(_portfolio_url(""))


# --- bulk actions ------------------------------------------------------------------------

# Parameters that say which accounts a bulk action acts on: ticked rows, or "all" with the
# portfolio's own filter parameters. The action's own fields carry a prefix, so they never
# meet a filter of the same name (the new owner and the owner filter).
SELECTION_PARAMS = ("account", "all", *PortfolioFilterForm.base_fields)
BULK_PREFIX = "bulk"


def _params(request: AuthedRequest) -> QueryDict:
    return request.POST if request.method == "POST" else request.GET


def selected_accounts(request: AuthedRequest) -> list[Account]:
    """The accounts the request's selection names, in the user's scope (``bulk_selection``)."""
    params = _params(request)
    query = None
    if params.get("all") == "1":
        # Segment and owner are plain text fields here (no choices to offer): the selector
        # filters inside the user's scope whatever they name.
        query = PortfolioFilterForm(params, user=request.user, segments=[]).to_query()
    return bulk_selection(request.user, external_ids=params.getlist("account"), query=query)


def _selection_fields(request: AuthedRequest) -> list[tuple[str, str]]:
    params = _params(request)
    return [(k, v) for k in SELECTION_PARAMS for v in params.getlist(k) if k in params]


def _back_to_portfolio(request: AuthedRequest) -> str:
    return _portfolio_url(view_query_string(_params(request)))


def _names(accounts: list[Account], shown: int = 3) -> str:
    names = ", ".join(a.name for a in accounts[:shown])
    return names + (f" and {len(accounts) - shown:,} more" if len(accounts) > shown else "")


@dataclass(frozen=True)
class BulkAction:
    """One bulk action: its form, what it will do (consequences, from the action's plan)
    and the action itself (a result sentence)."""

    slug: str
    title: str
    submit_label: str
    managers_only: bool
    make_form: Callable[[AuthedRequest, QueryDict | None], forms.Form]
    consequences: Callable[[AuthedRequest, list[Account], dict[str, Any]], list[str]]
    act: Callable[[AuthedRequest, list[Account], dict[str, Any]], str]


def _tasks_form(request: AuthedRequest, data: QueryDict | None) -> forms.Form:
    people = visible_users(request.user).order_by("first_name", "last_name", "username")
    return TaskCreateForm(data, people=people, prefix=BULK_PREFIX)


def _tasks_consequences(
    request: AuthedRequest, accounts: list[Account], d: dict[str, Any]
) -> list[str]:
    plan = task_services.plan_tasks_for_accounts(accounts=accounts, title=d["title"])
    whom = d["assignee"].display_name if d["assignee"] else "each account's owner"
    lines = [f"It creates {counted(len(plan.create), 'task')} “{d['title']}” for {whom}."]
    if plan.already_open:
        lines.append(
            f"{counted(len(plan.already_open), 'account')} skipped: a task with this title is "
            f"already open ({_names(plan.already_open)})."
        )
    return lines


def _tasks_act(request: AuthedRequest, accounts: list[Account], d: dict[str, Any]) -> str:
    done = task_services.create_tasks_for_accounts(
        actor=request.user,
        accounts=accounts,
        title=d["title"],
        description=d["description"],
        due_date=d["due_date"],
        priority=d["priority"],
        assignee=d["assignee"],
    )
    result = f"{counted(len(done.create), 'task')} created"
    if done.already_open:
        result += f", {len(done.already_open):,} skipped: already open"
    return result + "."


def _outreach_form(request: AuthedRequest, data: QueryDict | None) -> forms.Form:
    people = visible_users(request.user).filter(role=Role.CSM).order_by("username")
    return OutreachTaskForm(data, people=people, prefix=BULK_PREFIX)


def _outreach_spec(accounts: list[Account], d: dict[str, Any]) -> OutreachSpec:
    return OutreachSpec(
        title=d["title"],
        description=d["description"],
        due_in_days=d["due_in_days"],
        priority=d["priority"],
        assignee=d["assignee"],
        account_ids=frozenset(a.pk for a in accounts),
    )


def _outreach_consequences(
    request: AuthedRequest, accounts: list[Account], d: dict[str, Any]
) -> list[str]:
    plan = plan_outreach(
        actor=request.user, spec=_outreach_spec(accounts, d), today=timezone.localdate()
    )
    per_person: dict[str, int] = {}
    for p in plan:
        who = p.assignee.display_name if p.assignee else "Unassigned"
        per_person[who] = per_person.get(who, 0) + 1
    return [
        f"It creates {counted(len(plan), 'outreach task')}, due "
        f"{(timezone.localdate() + dt.timedelta(days=d['due_in_days'])):%b %-d}.",
        *(f"{who}: {counted(n, 'task')}." for who, n in sorted(per_person.items())),
    ]


def _outreach_act(request: AuthedRequest, accounts: list[Account], d: dict[str, Any]) -> str:
    tasks = create_outreach(actor=request.user, spec=_outreach_spec(accounts, d))
    return f"{counted(len(tasks), 'outreach task')} created."


def _owner_form(request: AuthedRequest, data: QueryDict | None) -> forms.Form:
    return OwnerForm(data, choices=portfolio_owners(request.user), prefix=BULK_PREFIX)


def _owner_consequences(
    request: AuthedRequest, accounts: list[Account], d: dict[str, Any]
) -> list[str]:
    plan = account_services.plan_owner_change(accounts=accounts, owner=d["owner"])
    lines = [
        f"{counted(len(plan.change), 'account')} move to {d['owner'].display_name} "
        f"({_names(plan.change)}); each change is recorded on its timeline and in the audit log."
    ]
    if plan.already_owned:
        lines.append(
            f"{counted(len(plan.already_owned), 'account')} skipped: already "
            f"{d['owner'].display_name}'s."
        )
    return lines


def _owner_act(request: AuthedRequest, accounts: list[Account], d: dict[str, Any]) -> str:
    done = account_services.change_owners(user=request.user, accounts=accounts, owner=d["owner"])
    result = f"{counted(len(done.change), 'account')} moved to {d['owner'].display_name}"
    if done.already_owned:
        result += f", {len(done.already_owned):,} skipped: already theirs"
    return result + "."


BULK_ACTIONS = {
    a.slug: a
    for a in (
        BulkAction(
            "tasks",
            "Create tasks",
            "Create tasks",
            False,
            _tasks_form,
            _tasks_consequences,
            _tasks_act,
        ),
        BulkAction(
            "outreach",
            "Assign outreach",
            "Assign outreach",
            True,
            _outreach_form,
            _outreach_consequences,
            _outreach_act,
        ),
        BulkAction(
            "owner",
            "Change owner",
            "Change owner",
            True,
            _owner_form,
            _owner_consequences,
            _owner_act,
        ),
    )
}


@login_required
@require_http_methods(["GET", "POST"])
def bulk_action(request: AuthedRequest, slug: str) -> HttpResponse:
    action = BULK_ACTIONS.get(slug)
    if action is None or (action.managers_only and not can_reassign_work(request.user)):
        raise Http404("No such bulk action.")
    back = _back_to_portfolio(request)
    try:
        accounts = selected_accounts(request)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect(back)
    params = _params(request)
    reviewing = request.method == "POST" or "review" in params
    form = action.make_form(request, params if reviewing else None)
    selection = _selection_fields(request)
    context = {
        "action": action,
        "form": form,
        "accounts": accounts,
        "back": back,
        "selection_fields": selection,
        "names": _names(accounts, shown=5),
    }
    if not reviewing or not form.is_valid():
        bad_post = request.method == "POST"  # the form changed under the confirmation
        return render(
            request, "accounts/portfolio_bulk.html", context, status=400 if bad_post else 200
        )
    data = form.cleaned_data
    try:
        if request.method == "GET" or not is_confirmed(request):
            confirmation = Confirmation(
                title=action.title,
                question=f"{action.title} for {counted(len(accounts), 'selected account')}?",
                consequences=action.consequences(request, accounts, data),
                action_url=reverse(f"accounts:portfolio_bulk_{slug}"),
                submit_label=action.submit_label,
                cancel_url=back,
                fields=[
                    *selection,
                    *(
                        (form.add_prefix(k), v)
                        for k in form.fields
                        for v in params.getlist(form.add_prefix(k))
                    ),
                ],
            )
            return render_confirmation(request, confirmation, refused=request.method == "POST")
        result = action.act(request, accounts, data)
    except ApplicationError as exc:
        form.add_error(None, exc.message)
        return render(request, "accounts/portfolio_bulk.html", context, status=400)
    messages.success(request, f"{action.title}: {result}")
    return redirect(back)
