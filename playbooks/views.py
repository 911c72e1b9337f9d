"""Pages: task queue, task detail and inline actions, bulk outreach, playbooks, success plans
and notifications. Every view fetches through a selector that 404s outside the user's scope;
every HTMX action also works as a plain form post (redirect back with a message)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.forms import FeedbackForm
from accounts.models import Account, Feedback, User
from accounts.selectors.access import get_account_for_user, visible_users
from accounts.selectors.portfolio import segment_sizes
from chs_site.confirm import Confirmation, counted, is_confirmed, render_confirmation
from chs_site.errors import ApplicationError
from chs_site.formatting import day_month
from chs_site.http import ACCOUNT_CHANGED, AuthedRequest
from playbooks.forms import (
    ActionFormSet,
    AttentionSnoozeForm,
    CancelForm,
    CompleteForm,
    MilestoneForm,
    ObjectiveForm,
    OutreachForm,
    PlanForm,
    PlaybookForm,
    ProgressForm,
    QueueFilterForm,
    ReassignForm,
    SnoozeForm,
    TaskCreateForm,
)
from playbooks.models import (
    Milestone,
    Objective,
    Playbook,
    SuccessPlan,
    SuccessPlanTemplate,
    Task,
    TaskStatus,
)
from playbooks.selectors import attention as attention_selectors
from playbooks.selectors import playbooks as playbook_selectors
from playbooks.selectors import tasks as task_selectors
from playbooks.selectors.notifications import notifications_for
from playbooks.selectors.plans import account_success_plans, overdue_milestones
from playbooks.selectors.playbooks import (
    TemplateSample,
    get_playbook_for_user,
    playbook_effectiveness,
    playbook_runs,
    preview_playbook,
    template_sample,
)
from playbooks.selectors.slack import slack_overview
from playbooks.selectors.tasks import (
    account_open_tasks,
    can_reassign,
    get_task_for_user,
    task_history,
    team_load,
)
from playbooks.services import slack
from playbooks.services.attention import end_attention_snooze, snooze_attention
from playbooks.services.configuration import save_playbook, set_playbook_enabled
from playbooks.services.firing import run_playbook_now
from playbooks.services.notifications import mark_notifications_read, set_email_preference
from playbooks.services.outreach import OutreachSpec, create_outreach, plan_outreach
from playbooks.services.plans import (
    add_milestone,
    add_objective,
    create_plan,
    set_milestone_status,
    set_objective_progress,
    set_plan_status,
    start_plan_from_template,
)
from playbooks.services.tasks import (
    cancel_task,
    complete_task,
    create_task,
    reassign_task,
    snooze_task,
    transition_task,
)
from scoring.models import MetricDefinition
from scoring.services.feedback import log_feedback


def _back(request: AuthedRequest, default: str) -> HttpResponse:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect(default)


def _form_errors(form: Any) -> str:
    parts = []
    for field, errors in form.errors.items():
        label = form.fields[field].label if field in form.fields else ""
        prefix = f"{label or field.replace('_', ' ').capitalize()}: " if field != "__all__" else ""
        parts.append(prefix + " ".join(errors))
    return "; ".join(parts)


# --- task queue ---------------------------------------------------------------------------


def _assignable(request: AuthedRequest) -> Any:
    return visible_users(request.user).order_by("username")


def _row_context(request: AuthedRequest) -> dict[str, Any]:
    """What every task row needs, computed once per page: a row renders no URL reversal
    and no per-row loop over people (a manager's queue has hundreds of rows)."""
    manages = can_reassign(request.user)
    people = list(_assignable(request)) if manages else []
    return {
        "today": timezone.localdate(),
        "can_reassign": manages,
        "people": people,
        "people_options": format_html_join(
            "", '<option value="{}">{}</option>', ((p.pk, p.display_name) for p in people)
        ),
        "tasks_url": reverse("playbooks:task_queue"),
        "accounts_url": reverse("accounts:account_detail", args=["-"])[:-2],
    }


@login_required
@require_GET
def task_queue(request: AuthedRequest) -> HttpResponse:
    user = request.user
    today = timezone.localdate()
    manages = can_reassign(user)
    data = request.GET.copy()
    data.setdefault("status", "open")
    data.setdefault("scope", "team" if manages else "mine")
    form = QueueFilterForm(data)
    if not manages:
        form.fields["scope"].choices = [("mine", "My tasks")]  # type: ignore[attr-defined]
    filters: dict[str, Any] = (
        form.cleaned_data if form.is_valid() else {"status": "open", "scope": "mine"}
    )
    queue = task_selectors.task_queue(
        user,
        today=today,
        scope=filters.get("scope") or "mine",
        status=filters.get("status", ""),
        assignee=filters.get("assignee", ""),
        playbook=filters["playbook"].pk if filters.get("playbook") else None,
        q=filters.get("q", ""),
    )
    context = {
        **_row_context(request),
        "form": form,
        "queue": queue,
        "load": team_load(user, today=today) if manages else [],
        "milestones": overdue_milestones(user, today=today, mine_only=not manages),
        "next": request.get_full_path(),
    }
    template = "playbooks/task_queue.html#queue" if request.htmx else "playbooks/task_queue.html"
    return render(request, template, context)


def _row_response(
    request: AuthedRequest, task: Task, flash: str = "", *, failed: bool = False
) -> HttpResponse:
    task = get_task_for_user(request.user, task.pk)
    return render(
        request,
        "playbooks/task_queue.html#task_row",
        {
            **_row_context(request),
            "task": task,
            "flash": flash,
            "flash_failed": failed,
            "next": request.POST.get("next", ""),
        },
    )


def _task_action(request: AuthedRequest, pk: int, form: Any, act: Any, done: str) -> HttpResponse:
    task = get_task_for_user(request.user, pk)
    error = ""
    if form.is_valid():
        try:
            act(task, form.cleaned_data)
        except ApplicationError as exc:
            error = exc.message
    else:
        error = _form_errors(form)
    if request.htmx:
        # 200 even for a refusal: htmx does not swap 4xx answers, and the row is where the
        # person needs to read why.
        return _row_response(request, task, flash=error or done, failed=bool(error))
    if error:
        messages.error(request, error)
    else:
        messages.success(request, done)
    return _back(request, reverse("playbooks:task_detail", args=[task.pk]))


@login_required
@require_POST
def task_complete(request: AuthedRequest, pk: int) -> HttpResponse:
    return _task_action(
        request,
        pk,
        CompleteForm(request.POST),
        lambda t, d: complete_task(task=t, actor=request.user, outcome_note=d["outcome_note"]),
        "Done. The outcome is on the account's timeline.",
    )


@login_required
@require_POST
def task_snooze(request: AuthedRequest, pk: int) -> HttpResponse:
    return _task_action(
        request,
        pk,
        SnoozeForm(request.POST),
        lambda t, d: snooze_task(task=t, actor=request.user, until=d["until"], reason=d["reason"]),
        "Snoozed; it comes back by itself on that date.",
    )


@login_required
@require_POST
def task_cancel(request: AuthedRequest, pk: int) -> HttpResponse:
    return _task_action(
        request,
        pk,
        CancelForm(request.POST),
        lambda t, d: cancel_task(task=t, actor=request.user, reason=d["reason"]),
        "Task cancelled.",
    )


@login_required
@require_POST
def task_reopen(request: AuthedRequest, pk: int) -> HttpResponse:
    return _task_action(
        request,
        pk,
        CancelForm(request.POST),
        lambda t, d: transition_task(task=t, actor=request.user, to_status=TaskStatus.OPEN),
        "Task reopened.",
    )


@login_required
@require_POST
def task_reassign(request: AuthedRequest, pk: int) -> HttpResponse:
    return _task_action(
        request,
        pk,
        ReassignForm(request.POST, people=_assignable(request)),
        lambda t, d: reassign_task(task=t, actor=request.user, assignee=d["assignee"]),
        "Task reassigned.",
    )


@login_required
@require_http_methods(["GET", "POST"])
def task_detail(request: AuthedRequest, pk: int) -> HttpResponse:
    task = get_task_for_user(request.user, pk)
    return render(
        request,
        "playbooks/task_detail.html",
        {
            **_row_context(request),
            "task": task,
            "events": task_history(task),
            "next": request.get_full_path(),
        },
    )


# --- bulk outreach ------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def outreach(request: AuthedRequest) -> HttpResponse:
    if not can_reassign(request.user):
        raise Http404("Bulk outreach is for managers and admins.")
    people = _assignable(request).filter(role="csm")
    segments = sorted(s for s in segment_sizes(request.user) if s)
    form = OutreachForm(request.POST or None, people=people, segments=segments)
    plan: list[Any] | None = None
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        spec = OutreachSpec(
            title=d["title"],
            description=d["description"],
            due_in_days=d["due_in_days"],
            priority=d["priority"],
            band=d["band"],
            segment=d["segment"].strip(),
            renewal_within_days=d["renewal_within_days"],
            score_drop_at_least=d["score_drop_at_least"],
            assignee=d["assignee"],
        )
        try:
            if request.POST.get("action") == "create":
                tasks = create_outreach(actor=request.user, spec=spec)
                messages.success(
                    request, f"Created {len(tasks)} outreach task{'s' if len(tasks) != 1 else ''}."
                )
                return redirect(reverse("playbooks:task_queue") + "?scope=team")
            plan = plan_outreach(actor=request.user, spec=spec, today=timezone.localdate())
        except ApplicationError as exc:
            form.add_error(None, exc.message)
    context = {"form": form, "plan": plan}
    template = "playbooks/outreach.html#preview" if request.htmx else "playbooks/outreach.html"
    return render(request, template, context)


# --- playbooks ----------------------------------------------------------------------------


@login_required
@require_GET
def playbook_list(request: AuthedRequest) -> HttpResponse:
    if not (request.user.is_admin or can_reassign(request.user)):
        raise Http404("No playbooks here.")
    return render(
        request,
        "playbooks/playbook_list.html",
        {"playbooks": playbook_selectors.playbook_list(request.user)},
    )


@login_required
@require_GET
def playbook_detail(request: AuthedRequest, pk: int) -> HttpResponse:
    playbook = get_playbook_for_user(request.user, pk)
    now = timezone.now()
    return render(
        request,
        "playbooks/playbook_detail.html",
        {
            "playbook": playbook,
            "actions": list(playbook.actions.select_related("survey")),
            "runs": playbook_runs(playbook),
            "effect": playbook_effectiveness(playbook, now=now),
        },
    )


@login_required
@require_GET
def playbook_preview(request: AuthedRequest, pk: int) -> HttpResponse:
    playbook = get_playbook_for_user(request.user, pk)
    preview = preview_playbook(playbook, now=timezone.now())
    return render(
        request, "playbooks/playbook_preview.html", {"playbook": playbook, "preview": preview}
    )


def _require_admin(request: AuthedRequest) -> None:
    if not request.user.is_admin:
        raise Http404("Only admins edit playbooks.")


# What the editor's htmx requests ask for instead of saving: the chosen trigger's fields
# (the trigger select changed) or the actions' preview (a template was typed). Without
# JavaScript the same values come from the form's "Show" and "Preview" buttons.
REFRESH_FIELD = "_refresh"
REFRESH_PARTS = {"trigger": "trigger-refresh", "preview": "action-preview"}


def _editor_preview(
    form: PlaybookForm, formset: Any, *, now: dt.datetime
) -> tuple[TemplateSample | None, list[Any]]:
    """One real account for the playbook as edited (saved or not) and each action's title
    and description filled with its values, or the templates' errors."""
    form.is_valid()  # fills form.instance with every field that is valid so far
    playbook = form.instance
    playbook.trigger_type = form.trigger
    teams = form.cleaned_data.get("teams") if hasattr(form, "cleaned_data") else None
    sample = template_sample(playbook, now=now, team_ids=[t.pk for t in teams or []])
    values = sample.values if sample else {}
    previews = [
        f.preview(values) for f in formset.forms if not (formset.can_delete and f["DELETE"].value())
    ]
    return sample, previews


@login_required
@require_http_methods(["GET", "POST"])
def playbook_edit(request: AuthedRequest, pk: int | None = None) -> HttpResponse:
    """The playbook editor. A POST saves, unless it asks for a refresh (``_refresh``): then
    nothing is saved and the page (or, for htmx, the part asked for) is shown again with
    the chosen trigger's fields and a preview of the actions filled with real data."""
    _require_admin(request)
    playbook = get_playbook_for_user(request.user, pk) if pk else Playbook()
    segments = sorted(s for s in segment_sizes(request.user) if s)
    data = request.POST if request.method == "POST" else None
    form = PlaybookForm(data, instance=playbook, segments=segments)
    formset = ActionFormSet(data, instance=playbook, prefix="actions")
    refresh = request.POST.get(REFRESH_FIELD, "")
    if request.method == "POST" and not refresh and form.is_valid() and formset.is_valid():
        saved = save_playbook(form=form, formset=formset, actor=request.user)
        messages.success(request, f"Playbook “{saved.name}” saved.")
        return redirect(saved.get_absolute_url())
    sample, previews = _editor_preview(form, formset, now=timezone.now())
    context = {
        "form": form,
        "formset": formset,
        "playbook": playbook,
        "sample": sample,
        "previews": previews,
        "show_errors": request.method == "POST" and not refresh,
        "refresh_field": REFRESH_FIELD,
        "edit_url": request.path,
    }
    template = "playbooks/playbook_form.html"
    if request.htmx and refresh in REFRESH_PARTS:
        template += "#" + REFRESH_PARTS[refresh]
    return render(request, template, context)


@login_required
@require_POST
def playbook_toggle(request: AuthedRequest, pk: int) -> HttpResponse:
    _require_admin(request)
    playbook = get_playbook_for_user(request.user, pk)
    try:
        set_playbook_enabled(playbook=playbook, actor=request.user, enabled=not playbook.enabled)
        messages.success(request, f"“{playbook.name}” is {'on' if playbook.enabled else 'off'}.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect(playbook.get_absolute_url())


def _run_confirmation(playbook: Playbook) -> Confirmation:
    """What *Run now* does, from the playbook's preview (the same matching and blocking)."""
    preview = preview_playbook(playbook, now=timezone.now())
    tasks = sum(n for _, n in preview.by_assignee)
    lines = [
        f"It fires for {counted(preview.firing, 'account')} and creates "
        f"{counted(tasks, 'task')}"
        + (
            f" ({counted(preview.blocked, 'account')} skipped: already an open task or in"
            " cooldown)."
            if preview.blocked
            else "."
        ),
        *(f"{who}: {counted(n, 'task')}." for who, n in preview.by_assignee),
    ]
    return Confirmation(
        title=f"Run {playbook.name}",
        question=f"Run “{playbook.name}” now?",
        consequences=lines,
        action_url=reverse("playbooks:playbook_run", args=[playbook.pk]),
        submit_label="Run now",
        cancel_url=playbook.get_absolute_url(),
    )


@login_required
@require_http_methods(["GET", "POST"])
def playbook_run(request: AuthedRequest, pk: int) -> HttpResponse:
    """GET: who would get what (the preview's counts); POST with the confirm field: run."""
    _require_admin(request)
    playbook = get_playbook_for_user(request.user, pk)
    if request.method == "GET" or not is_confirmed(request):
        return render_confirmation(
            request, _run_confirmation(playbook), refused=request.method == "POST"
        )
    created = run_playbook_now(playbook=playbook, actor=request.user)
    messages.success(
        request, f"Ran “{playbook.name}”: {created} task{'s' if created != 1 else ''} created."
    )
    return redirect(playbook.get_absolute_url())


# --- account fragments: tasks and success plans -----------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def account_tasks(request: AuthedRequest, external_id: str) -> HttpResponse:
    account = get_account_for_user(request.user, external_id)
    people = _assignable(request)
    form = TaskCreateForm(request.POST or None, people=people, prefix="task")
    created = False
    if request.method == "POST":
        if form.is_valid():
            d = form.cleaned_data
            try:
                create_task(
                    actor=request.user,
                    account=account,
                    title=d["title"],
                    description=d["description"],
                    due_date=d["due_date"],
                    priority=d["priority"],
                    assignee=d["assignee"],
                )
                if not request.htmx:
                    messages.success(request, "Task created.")
                    return redirect(account.get_absolute_url() + "?tab=tasks")
                created = True
                form = TaskCreateForm(people=people, prefix="task")
            except ApplicationError as exc:
                form.add_error(None, exc.message)
        elif not request.htmx:
            messages.error(request, _form_errors(form))
            return redirect(account.get_absolute_url())
    context = {
        "account": account,
        "tasks": account_open_tasks(account),
        "task_form": form,
        "today": timezone.localdate(),
        "created": created,
    }
    response = render(request, "playbooks/_account_tasks.html", context)
    if created:
        # The account page refetches its head (the open-task count) and timeline.
        response["HX-Trigger"] = ACCOUNT_CHANGED
    return response


def _plan_context(account: Any, **extra: Any) -> dict[str, Any]:
    return {
        "account": account,
        "plans": account_success_plans(account),
        "metrics": list(MetricDefinition.objects.order_by("name").only("pk", "name")),
        "plan_templates": list(SuccessPlanTemplate.objects.only("pk", "name")),
        "today": timezone.localdate(),
        **extra,
    }


@login_required
@require_http_methods(["GET", "POST"])
def success_plan(request: AuthedRequest, external_id: str) -> HttpResponse:
    """The account's success plans (an HTMX fragment the account page loads; also a page)."""
    account = get_account_for_user(request.user, external_id)
    extra: dict[str, Any] = {}
    if request.method == "POST":
        error = _plan_post(request, account)
        if error:
            extra["plan_error"] = error
        elif not request.htmx:
            return _back(request, reverse("playbooks:success_plan", args=[external_id]))
    template = (
        "playbooks/_success_plan.html" if request.htmx else "playbooks/success_plan_page.html"
    )
    response = render(request, template, _plan_context(account, **extra))
    if request.method == "POST" and "plan_error" not in extra:
        # The account page refetches its head (the active plans count) and timeline.
        response["HX-Trigger"] = ACCOUNT_CHANGED
    return response


def _int(value: str | None) -> int:
    """A posted id; anything that is not a whole number matches nothing."""
    return int(value) if value and value.isdigit() else -1


def _plan_post(request: AuthedRequest, account: Any) -> str:
    """One of: start a plan, add an objective or milestone, set a milestone's status or an
    objective's progress. Returns an error message or ''."""
    op = request.POST.get("op", "")
    user = request.user
    plans = SuccessPlan.objects.filter(account=account)
    try:
        if op == "create_plan":
            form = PlanForm(request.POST, prefix="plan")
            if not form.is_valid():
                return _form_errors(form)
            if form.cleaned_data["template"]:
                started = start_plan_from_template(
                    account=account,
                    template=form.cleaned_data["template"],
                    actor=user,
                    today=timezone.localdate(),
                )
                if started is None:
                    return "That template is already running as a plan on this account."
            else:
                create_plan(account=account, actor=user, title=form.cleaned_data["title"])
            return ""
        if op in ("add_objective", "add_milestone", "plan_status"):
            plan = plans.filter(pk=_int(request.POST.get("plan"))).first()
            if plan is None:
                return "That plan does not exist on this account."
            if op == "plan_status":
                set_plan_status(plan=plan, actor=user, status=request.POST.get("status", ""))
                return ""
            if op == "add_objective":
                oform = ObjectiveForm(request.POST, prefix="objective")
                if not oform.is_valid():
                    return _form_errors(oform)
                d = oform.cleaned_data
                add_objective(
                    plan=plan, actor=user, title=d["title"], metric=d["metric"], target=d["target"]
                )
                return ""
            mform = MilestoneForm(request.POST, prefix="milestone")
            if not mform.is_valid():
                return _form_errors(mform)
            add_milestone(
                plan=plan,
                actor=user,
                title=mform.cleaned_data["title"],
                due_date=mform.cleaned_data["due_date"],
            )
            return ""
        if op == "milestone_status":
            milestone = (
                Milestone.objects.filter(
                    pk=_int(request.POST.get("milestone")), plan__account=account
                )
                .select_related("plan__account")
                .first()
            )
            if milestone is None:
                return "That milestone does not exist on this account."
            set_milestone_status(
                milestone=milestone, actor=user, status=request.POST.get("status", "")
            )
            return ""
        if op == "objective_progress":
            objective = Objective.objects.filter(
                pk=_int(request.POST.get("objective")), plan__account=account
            ).first()
            if objective is None:
                return "That objective does not exist on this account."
            pform = ProgressForm(request.POST)
            if not pform.is_valid():
                return _form_errors(pform)
            set_objective_progress(
                objective=objective, actor=user, progress=pform.cleaned_data["progress"]
            )
            return ""
    except ApplicationError as exc:
        return exc.message
    return f"Unknown action {op!r}."


# --- notifications ------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def notifications(request: AuthedRequest) -> HttpResponse:
    if request.method == "POST" and "slack_notifications" in request.POST:
        try:
            slack.set_slack_preference(user=request.user, mode=request.POST["slack_notifications"])
            messages.success(request, "Slack preference saved.")
        except ApplicationError as exc:
            messages.error(request, exc.message)
        return redirect("playbooks:notifications")
    if request.method == "POST" and "email_notifications" in request.POST:
        try:
            set_email_preference(user=request.user, mode=request.POST["email_notifications"])
            messages.success(request, "Email preference saved.")
        except ApplicationError as exc:
            messages.error(request, exc.message)
        return redirect("playbooks:notifications")
    if request.method == "POST":
        ids = [int(i) for i in request.POST.getlist("id") if i.isdigit()] or None
        marked = mark_notifications_read(user=request.user, ids=ids)
        messages.success(
            request, f"Marked {marked} notification{'s' if marked != 1 else ''} as read."
        )
        return redirect("playbooks:notifications")
    return render(
        request,
        "playbooks/notifications.html",
        {
            "notifications": notifications_for(request.user),
            "email_modes": User.EmailMode.choices,
            "slack_connected": slack.workspace() is not None,
            "slack_mode": slack.slack_mode(request.user),
        },
    )


# --- Today -------------------------------------------------------------------------------

TODAY_PAGE_SIZE = 50  # a morning's worth; the list is ranked, so the rest can wait a page


@login_required
@require_GET
def today(request: AuthedRequest) -> HttpResponse:
    """Each person's home: the accounts that need attention now and the book's headline
    figures; a manager's (an admin's) covers the team with a line per person, and
    ``?owner=<username>`` narrows it to one person's book (outside the scope: 404)."""
    owner = request.GET.get("owner", "")
    person = attention_selectors.person_in_scope(request.user, owner) if owner else None
    board = attention_selectors.today_board(request.user, now=timezone.now(), person=person)
    context = {
        "board": board,
        "page": Paginator(board.items, TODAY_PAGE_SIZE).get_page(request.GET.get("page")),
        "query": urlencode({"owner": owner}) if owner else "",
        "snooze_choices": AttentionSnoozeForm.DAY_CHOICES,
    }
    template = "playbooks/today.html#attention_list" if request.htmx else "playbooks/today.html"
    return render(request, template, context)


def _today_row(
    request: AuthedRequest,
    account: Account,
    *,
    flash: str = "",
    failed: bool = False,
    call_form: FeedbackForm | None = None,
    task_form: TaskCreateForm | None = None,
    status: int = 200,
) -> HttpResponse:
    """One account's Today row as it is now (or a line saying it left the list), with the
    action form asked for open. HTMX swaps it in place; without JavaScript it is the page."""
    item, snooze = attention_selectors.attention_item(
        account, rule=attention_selectors.Rule.from_settings(), now=timezone.now()
    )
    context = {
        "account": account,
        "item": item,
        "snooze": snooze,
        "flash": flash,
        "flash_failed": failed,
        "call_form": call_form,
        "task_form": task_form,
        "snooze_choices": AttentionSnoozeForm.DAY_CHOICES,
    }
    template = "playbooks/today.html#item" if request.htmx else "playbooks/today_action.html"
    return render(request, template, context, status=status)


def _today_done(request: AuthedRequest, account: Account, done: str) -> HttpResponse:
    if request.htmx:
        return _today_row(request, account, flash=done)
    messages.success(request, done)
    return redirect("playbooks:today")


@login_required
@require_http_methods(["GET", "POST"])
def today_call(request: AuthedRequest, external_id: str) -> HttpResponse:
    """Log a call from Today: the account page's feedback form and service, kind preset."""
    account = get_account_for_user(request.user, external_id)
    posted = request.POST if request.method == "POST" else None
    form = FeedbackForm(posted, prefix=f"call-{account.pk}", initial={"kind": Feedback.Kind.CALL})
    # The form replaces the link that opened it: focus goes to what the person writes first.
    form.fields["text"].widget.attrs["autofocus"] = True
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                log_feedback(
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
                label = Feedback.Kind(data["kind"]).label
                return _today_done(request, account, f"{label} logged for {account.name}.")
        return _today_row(request, account, call_form=form, status=200 if request.htmx else 400)
    return _today_row(request, account, call_form=form)


@login_required
@require_http_methods(["GET", "POST"])
def today_task(request: AuthedRequest, external_id: str) -> HttpResponse:
    """Create a task from Today: the account page's task form and service."""
    account = get_account_for_user(request.user, external_id)
    posted = request.POST if request.method == "POST" else None
    form = TaskCreateForm(posted, people=_assignable(request), prefix=f"task-{account.pk}")
    form.fields["title"].widget.attrs["autofocus"] = True
    if request.method == "POST":
        if form.is_valid():
            d = form.cleaned_data
            try:
                task = create_task(
                    actor=request.user,
                    account=account,
                    title=d["title"],
                    description=d["description"],
                    due_date=d["due_date"],
                    priority=d["priority"],
                    assignee=d["assignee"],
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                return _today_done(request, account, f"Task created: {task.title}.")
        return _today_row(request, account, task_form=form, status=200 if request.htmx else 400)
    return _today_row(request, account, task_form=form)


@login_required
@require_POST
def today_snooze(request: AuthedRequest, external_id: str) -> HttpResponse:
    """Take the account off Today for some days, for the reasons it has now."""
    account = get_account_for_user(request.user, external_id)
    form = AttentionSnoozeForm(request.POST)
    error = ""
    if form.is_valid():
        item, _ = attention_selectors.attention_item(
            account, rule=attention_selectors.Rule.from_settings(), now=timezone.now()
        )
        try:
            snooze = snooze_attention(
                actor=request.user,
                account=account,
                days=form.cleaned_data["days"],
                reason_keys=item.reason_keys if item is not None else [],
                note=form.cleaned_data["note"],
            )
        except ApplicationError as exc:
            error = exc.message
        else:
            until = day_month(snooze.until, today=timezone.localdate())
            return _today_done(request, account, f"{account.name} snoozed until {until}.")
    else:
        error = _form_errors(form)
    if request.htmx:
        # 200: htmx does not swap 4xx answers, and the row is where the reason is read.
        return _today_row(request, account, flash=error, failed=True)
    messages.error(request, error)
    return redirect("playbooks:today")


@login_required
@require_POST
def today_unsnooze(request: AuthedRequest, external_id: str) -> HttpResponse:
    """Bring a snoozed account back to Today now."""
    account = get_account_for_user(request.user, external_id)
    if end_attention_snooze(actor=request.user, account=account):
        return _today_done(request, account, f"{account.name} is back on Today.")
    return _today_done(request, account, f"{account.name} was not snoozed.")


# --- Slack ------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def slack_settings(request: AuthedRequest) -> HttpResponse:
    """Admins connect the workspace, choose each team's channel, and see what was sent."""
    if not request.user.is_admin:
        raise Http404("Only admins configure Slack.")
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if action == "connect":
                ws = slack.connect_workspace(
                    actor=request.user, token=request.POST.get("token", "")
                )
                messages.success(request, f"Connected to the Slack workspace {ws.slack_team_name}.")
            elif action == "disconnect":
                if not is_confirmed(request):
                    return render_confirmation(request, _disconnect_confirmation(), refused=True)
                slack.disconnect_workspace(actor=request.user)
                messages.success(request, "Slack disconnected: teams' webhooks are used again.")
            elif action == "channels":
                for team, _ in slack_overview().teams:
                    slack.set_team_channel(
                        actor=request.user,
                        team=team,
                        channel=request.POST.get(f"channel-{team.pk}", ""),
                    )
                messages.success(request, "Team channels saved.")
        except ApplicationError as exc:
            messages.error(request, exc.message)
        return redirect("playbooks:slack")
    if request.GET.get("confirm") == "disconnect":
        return render_confirmation(request, _disconnect_confirmation())
    return render(request, "playbooks/slack.html", {"overview": slack_overview()})


def _disconnect_confirmation() -> Confirmation:
    return Confirmation(
        title="Disconnect Slack",
        question="Disconnect CHS from the Slack workspace?",
        consequences=[
            "Nobody gets CHS messages in Slack any more; teams with an incoming webhook get"
            " their notifications there again.",
            "The bot token is deleted; connecting again needs it.",
        ],
        action_url=reverse("playbooks:slack"),
        submit_label="Disconnect",
        cancel_url=reverse("playbooks:slack"),
        fields=[("action", "disconnect")],
        danger=True,
    )
