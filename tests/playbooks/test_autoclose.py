"""Tasks that close by themselves when their trigger stops holding, per trigger kind;
keep-open playbooks; the timeline line, the notification state and retried runs."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import Account, Activity, User
from playbooks.models import (
    Notification,
    Playbook,
    PlaybookAction,
    Task,
    TaskEvent,
    TaskStatus,
    TriggerType,
)
from playbooks.services.autoclose import close_resolved_tasks
from playbooks.services.firing import (
    evaluate_score_changes,
    evaluate_time_triggers,
    process_score_events,
)
from scoring.contracts import MetricValueIn
from scoring.models import Measure, MetricDefinition, Scorecard, ScoreEvent
from scoring.services import dirty, events
from scoring.services.recompute import recompute_dirty_accounts
from scoring.services.values import record_metric_values
from tests.factories import MetricFactory, PlaybookFactory, change, metric_value, record_score

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def the_task(playbook: Playbook) -> Task:
    return Task.objects.get(playbook=playbook)


def closed_lines(account: Account) -> list[str]:
    return list(
        Activity.objects.filter(account=account, summary__startswith="Closed by itself")
        .order_by("id")
        .values_list("summary", flat=True)
    )


def score_event(account: Account, *, score: float, band: str, prev: float, prev_band: str) -> None:
    """The account is scored and its change waits in the outbox, as a recompute leaves it."""
    record_score(account, score, band, timezone.now())
    ScoreEvent.objects.create(
        kind=ScoreEvent.Kind.SCORE,
        account=account,
        previous_score=prev,
        previous_band=prev_band,
        score=score,
        band=band,
        created_at=timezone.now(),
    )


# --- band entered ---------------------------------------------------------------------------


def test_a_red_task_closes_by_itself_when_the_account_is_yellow_again(account: Account) -> None:
    playbook = PlaybookFactory.create(name="Fell into red")
    evaluate_score_changes(changes=[change(account, band="red", score=31, previous_band="yellow")])
    score_event(account, score=35, band="red", prev=31, prev_band="red")
    process_score_events()
    assert the_task(playbook).status == TaskStatus.OPEN  # still red: the trigger holds

    score_event(account, score=52, band="yellow", prev=35, prev_band="red")
    process_score_events()
    task = the_task(playbook)
    assert task.status == TaskStatus.RESOLVED and task.closed_at is not None
    assert closed_lines(account) == ["Closed by itself: Acme Corp is yellow again (52.0)"]
    event = TaskEvent.objects.get(task=task, kind=TaskEvent.Kind.STATUS)
    assert (event.from_value, event.to_value) == ("open", "resolved")
    assert Account.objects.get(pk=account.pk).open_task_count == 0


def test_a_keep_open_playbook_keeps_its_task(account: Account) -> None:
    playbook = PlaybookFactory.create(auto_close=False)
    evaluate_score_changes(changes=[change(account, band="red", score=31, previous_band="yellow")])
    score_event(account, score=52, band="yellow", prev=31, prev_band="red")
    process_score_events()
    assert the_task(playbook).status == TaskStatus.OPEN
    assert closed_lines(account) == []


def test_a_snoozed_task_closes_by_itself_too_and_no_data_is_not_a_recovery(
    account: Account,
) -> None:
    playbook = PlaybookFactory.create()
    evaluate_score_changes(changes=[change(account, band="red", score=31, previous_band="yellow")])
    Task.objects.filter(playbook=playbook).update(
        status=TaskStatus.SNOOZED, snoozed_until=timezone.localdate() + dt.timedelta(days=3)
    )
    Account.objects.filter(pk=account.pk).update(health_band="", health_score=None)
    assert close_resolved_tasks() == 0
    record_score(account, 75, "green", timezone.now() + dt.timedelta(minutes=1))
    assert close_resolved_tasks() == 1
    assert the_task(playbook).status == TaskStatus.RESOLVED


# --- score drop -----------------------------------------------------------------------------


def test_a_score_drop_task_closes_once_the_score_is_back_at_its_earlier_high(
    account: Account,
) -> None:
    playbook = PlaybookFactory.create(
        trigger_type=TriggerType.SCORE_DROP, band="", drop_points=15, drop_days=14
    )
    record_score(account, 80, "green", NOW - dt.timedelta(days=5))
    evaluate_score_changes(
        changes=[change(account, band="yellow", score=62, previous_band="green", previous_score=80)]
    )
    later = timezone.now() + dt.timedelta(minutes=1)
    record_score(account, 79.9, "green", later)  # most of the way back is not back
    assert close_resolved_tasks() == 0
    assert the_task(playbook).status == TaskStatus.OPEN
    record_score(account, 80, "green", later + dt.timedelta(minutes=1))
    assert close_resolved_tasks() == 1
    assert closed_lines(account) == [
        "Closed by itself: Acme Corp's score recovered to 80.0 (it had dropped from 80.0)"
    ]


# --- metric threshold -----------------------------------------------------------------------


def test_a_metric_task_closes_when_the_metric_crosses_back(account: Account) -> None:
    logins = MetricFactory.create(key="logins")
    playbook = PlaybookFactory.create(
        trigger_type=TriggerType.METRIC_THRESHOLD,
        band="",
        metric=logins,
        metric_aggregation="latest",
        metric_window_days=7,
        threshold_direction="below",
        threshold=10,
    )
    metric_value(account, logins, 2, NOW - dt.timedelta(hours=3))
    evaluate_score_changes(changes=[change(account, band="yellow", score=50)])
    metric_value(account, logins, 8, NOW - dt.timedelta(hours=2))
    assert close_resolved_tasks(now=NOW) == 0  # still below 10
    assert the_task(playbook).status == TaskStatus.OPEN
    metric_value(account, logins, 12, NOW - dt.timedelta(hours=1))
    assert close_resolved_tasks(now=NOW) == 1
    assert closed_lines(account) == [
        "Closed by itself: Acme Corp: latest value of logins is 12, no longer below 10"
    ]


# --- renewal window (the beat sweep) --------------------------------------------------------


@pytest.fixture
def renewal_playbook(db: None) -> Playbook:
    return PlaybookFactory.create(
        trigger_type=TriggerType.RENEWAL_WINDOW, band="", days=90, bands=["red", "yellow"]
    )


def test_a_renewal_task_stays_while_the_renewal_is_in_the_window(
    renewal_playbook: Playbook, account: Account
) -> None:
    soon = timezone.localdate() + dt.timedelta(days=40)
    Account.objects.filter(pk=account.pk).update(renewal_date=soon, health_band="yellow")
    assert evaluate_time_triggers() == 1
    evaluate_time_triggers()
    assert the_task(renewal_playbook).status == TaskStatus.OPEN


@pytest.mark.parametrize(
    ("days_from_today", "why"),
    [(-1, "has passed"), (200, "beyond the 90-day window")],
)
def test_a_renewal_task_closes_when_the_renewal_passed_or_moved_out(
    renewal_playbook: Playbook, account: Account, days_from_today: int, why: str
) -> None:
    soon = timezone.localdate() + dt.timedelta(days=40)
    Account.objects.filter(pk=account.pk).update(renewal_date=soon, health_band="yellow")
    evaluate_time_triggers()
    moved = timezone.localdate() + dt.timedelta(days=days_from_today)
    Account.objects.filter(pk=account.pk).update(renewal_date=moved)
    evaluate_time_triggers()
    assert the_task(renewal_playbook).status == TaskStatus.RESOLVED
    [line] = closed_lines(account)
    assert why in line


# --- notifications, retries -----------------------------------------------------------------


def test_the_notification_about_a_resolved_task_is_marked_resolved(
    csm: User, account: Account
) -> None:
    playbook = PlaybookFactory.create()
    PlaybookAction.objects.create(
        playbook=playbook, kind="notify", title_template="{account_name} is red", position=1
    )
    evaluate_score_changes(changes=[change(account, band="red", score=20, previous_band="yellow")])
    note = Notification.objects.get(recipient=csm)
    assert note.resolved_at is None and note.read_at is None
    record_score(account, 55, "yellow", timezone.now() + dt.timedelta(minutes=1))
    close_resolved_tasks()
    note.refresh_from_db()
    assert note.resolved_at is not None and note.read_at is not None


def test_a_retried_consumer_run_closes_once_and_writes_one_line(account: Account) -> None:
    playbook = PlaybookFactory.create()
    evaluate_score_changes(changes=[change(account, band="red", score=31, previous_band="yellow")])
    score_event(account, score=52, band="yellow", prev=31, prev_band="red")
    process_score_events()
    # A retry after a lost acknowledgement: the same event is claimed and handled again.
    ScoreEvent.objects.update(processed_at=None)
    process_score_events()
    assert the_task(playbook).status == TaskStatus.RESOLVED
    assert len(closed_lines(account)) == 1
    assert TaskEvent.objects.filter(task__playbook=playbook, to_value="resolved").count() == 1
    assert Account.objects.get(pk=account.pk).open_task_count == 0


def test_a_person_cannot_move_a_task_closed_by_itself(csm: User, account: Account) -> None:
    from chs_site.errors import Conflict
    from playbooks.services.tasks import complete_task

    playbook = PlaybookFactory.create()
    evaluate_score_changes(changes=[change(account, band="red", score=31, previous_band="yellow")])
    record_score(account, 60, "yellow", timezone.now() + dt.timedelta(minutes=1))
    close_resolved_tasks()
    with pytest.raises(Conflict):
        complete_task(task=the_task(playbook), actor=csm, outcome_note="Called")


# --- the real path --------------------------------------------------------------------------


def test_values_that_lift_the_account_out_of_red_close_its_task_through_the_outbox(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ingest → recompute (score, history, event) → the consumer closes the task."""
    monkeypatch.setattr(dirty, "schedule_recompute", lambda: False)
    monkeypatch.setattr(events, "nudge_consumers", lambda: None)
    usage = MetricDefinition.objects.create(key="usage", name="Usage")
    card = Scorecard.objects.create(name="Default", status=Scorecard.Status.ACTIVE)
    Measure.objects.create(scorecard=card, metric=usage, weight=1, bad=0, good=100)
    playbook = PlaybookFactory.create(name="Fell into red")
    now = timezone.now()

    record_metric_values(
        values=[MetricValueIn(account.pk, usage.pk, 20, now - dt.timedelta(hours=2))]
    )
    recompute_dirty_accounts()
    process_score_events()
    assert the_task(playbook).status == TaskStatus.OPEN

    record_metric_values(values=[MetricValueIn(account.pk, usage.pk, 55, now)])
    recompute_dirty_accounts()
    process_score_events()
    task = the_task(playbook)
    assert task.status == TaskStatus.RESOLVED
    assert closed_lines(account) == ["Closed by itself: Acme Corp is yellow again (55.0)"]


# --- configuration ----------------------------------------------------------------------


def test_switching_auto_close_off_in_the_form_shows_in_the_audit_diff(admin_client: Client) -> None:
    from accounts.models import AuditEntry

    data: dict[str, Any] = {
        "name": "Fell into red",
        "cooldown_days": 7,
        "auto_close": "on",
        "trigger_type": "band_entered",
        "band": "red",
        "metric_aggregation": "latest",
        "metric_window_days": 30,
        "threshold_direction": "below",
        "actions-TOTAL_FORMS": 1,
        "actions-INITIAL_FORMS": 0,
        "actions-MIN_NUM_FORMS": 1,
        "actions-MAX_NUM_FORMS": 1000,
        "actions-0-kind": "create_task",
        "actions-0-title_template": "Call {account_name}",
        "actions-0-due_in_days": 1,
        "actions-0-priority": "high",
        "actions-0-assignee_rule": "owner",
        "actions-0-position": 0,
    }
    assert admin_client.post("/playbooks/new/", data).status_code == 302
    playbook = Playbook.objects.get(name="Fell into red")
    assert playbook.auto_close
    detail = admin_client.get(f"/playbooks/{playbook.pk}/").content.decode()
    assert "Open tasks close by themselves" in detail
    edit = {
        **{k: v for k, v in data.items() if k != "auto_close"},  # an unticked box
        "actions-INITIAL_FORMS": 1,
        "actions-0-id": playbook.actions.get().pk,
        "actions-0-playbook": playbook.pk,
    }
    assert admin_client.post(f"/playbooks/{playbook.pk}/edit/", edit).status_code == 302
    playbook.refresh_from_db()
    assert not playbook.auto_close
    entry = AuditEntry.objects.get(
        object_type=AuditEntry.ObjectType.PLAYBOOK, action=AuditEntry.Action.UPDATED
    )
    assert entry.changes == {"auto_close": [True, False]}


def test_the_notifications_page_tags_a_resolved_notification(csm: User, account: Account) -> None:
    from tests.conftest import client_for

    Notification.objects.create(
        recipient=csm,
        account=account,
        title="Acme Corp is red",
        created_at=NOW,
        read_at=NOW,
        resolved_at=NOW,
    )
    page = client_for(csm).get("/notifications/").content.decode()
    assert '<span class="tag">resolved</span>' in page


# --- related tasks grouped in the queue -------------------------------------------------


def test_the_queue_puts_an_accounts_open_tasks_together_with_their_count(
    csm_client: Client, csm: User, account: Account, django_assert_max_num_queries: Any
) -> None:
    from tests.factories import AccountFactory, TaskFactory

    today = timezone.localdate()
    other = AccountFactory.create(owner=csm, name="Globex")
    for days, on, title in [
        (10, account, "Call about red"),
        (11, other, "Globex review"),
        (12, account, "Usage dropped"),
        (13, account, "Renewal risk"),
    ]:
        TaskFactory.create(
            account=on, assignee=csm, title=title, due_date=today + dt.timedelta(days=days)
        )
    for n in range(10):  # more accounts with several tasks cost no more queries
        busy = AccountFactory.create(owner=csm, name=f"Busy {n}")
        for _ in range(3):
            TaskFactory.create(account=busy, assignee=csm, due_date=today + dt.timedelta(days=20))
    with django_assert_max_num_queries(12):
        response = csm_client.get("/tasks/")
    later = next(g for g in response.context["queue"]["groups"] if g.key == "later")
    titles = [t.title for t in later.tasks][:4]
    assert titles == ["Call about red", "Usage dropped", "Renewal risk", "Globex review"]
    html = response.content.decode()
    assert html.count('#account-tasks">3 open tasks on this account</a>') == 3 + 30
    assert "1 open tasks" not in html


def test_the_queue_lists_tasks_closed_by_themselves_apart_from_done_ones(
    csm_client: Client, csm: User, account: Account
) -> None:
    from tests.factories import TaskFactory

    TaskFactory.create(account=account, assignee=csm, title="Recovered", status="resolved")
    TaskFactory.create(account=account, assignee=csm, title="Worked", status="done")
    html = csm_client.get("/tasks/?status=resolved&scope=mine").content.decode()
    assert "Recovered" in html and "Worked" not in html
    assert '<span class="tag">Closed by itself</span>' in html
