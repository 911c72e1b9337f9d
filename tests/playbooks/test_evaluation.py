"""Playbook evaluation: each trigger, condition and assignee rule; dedupe, cooldown, runs."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Account, Activity, Feedback, Role, Team, User
from playbooks.models import (
    Notification,
    Playbook,
    PlaybookAction,
    PlaybookRun,
    SuccessPlan,
    SuccessPlanTemplate,
    Task,
    TaskStatus,
    TemplateMilestone,
    TriggerType,
)
from playbooks.selectors.playbooks import preview_playbook
from playbooks.services.firing import (
    evaluate_feedback,
    evaluate_score_changes,
    evaluate_time_triggers,
    run_playbook_now,
)
from playbooks.services.tasks import cancel_task, complete_task
from tests.factories import (
    AccountFactory,
    FeedbackFactory,
    MetricFactory,
    PlaybookFactory,
    UserFactory,
    change,
    metric_value,
    record_score,
)

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def open_tasks(playbook: Playbook) -> list[Task]:
    return list(Task.objects.filter(playbook=playbook, status=TaskStatus.OPEN))


# --- band entered ---------------------------------------------------------------------------


def test_entering_red_creates_one_task_for_the_owner_with_filled_template(
    csm: User, account: Account
) -> None:
    playbook = PlaybookFactory.create(name="Fell into red")
    created = evaluate_score_changes(
        changes=[change(account, band="red", score=31.5, previous_band="yellow", previous_score=48)]
    )
    assert created == 1
    [task] = open_tasks(playbook)
    assert task.assignee == csm
    assert task.title == "Call Acme Corp: now red"
    assert task.description == "Score 31.5, was yellow."
    assert task.due_date == timezone.localdate() + dt.timedelta(days=2)
    run = PlaybookRun.objects.get()
    assert run.reason == "Band changed from yellow to red"
    assert run.values["previous_band"] == "yellow" and run.values["score"] == 31.5
    assert run.tasks_created == 1 and task.run == run
    assert Activity.objects.filter(account=account, kind=Activity.Kind.PLAYBOOK_FIRED).count() == 1


def test_staying_red_or_entering_another_band_does_not_fire(account: Account) -> None:
    playbook = PlaybookFactory.create()
    assert (
        evaluate_score_changes(
            changes=[change(account, band="red", score=20, previous_band="red", previous_score=25)]
        )
        == 0
    )
    assert (
        evaluate_score_changes(
            changes=[
                change(account, band="yellow", score=50, previous_band="green", previous_score=75)
            ]
        )
        == 0
    )
    assert not open_tasks(playbook)


def test_disabled_playbook_never_fires(account: Account) -> None:
    PlaybookFactory.create(enabled=False)
    assert (
        evaluate_score_changes(
            changes=[
                change(account, band="red", score=20, previous_band="yellow", previous_score=45)
            ]
        )
        == 0
    )


def test_repeating_the_same_change_keeps_one_open_task(account: Account) -> None:
    playbook = PlaybookFactory.create()
    c = change(account, band="red", score=20, previous_band="yellow", previous_score=45)
    assert evaluate_score_changes(changes=[c]) == 1
    assert evaluate_score_changes(changes=[c, c]) == 0
    assert len(open_tasks(playbook)) == 1
    assert PlaybookRun.objects.count() == 1


def test_cooldown_holds_after_the_task_is_closed(csm: User, account: Account) -> None:
    playbook = PlaybookFactory.create(cooldown_days=10)
    start = NOW - dt.timedelta(days=30)
    evaluate_score_changes(
        changes=[change(account, band="red", score=20, previous_band="yellow", at=start)], now=start
    )
    [task] = open_tasks(playbook)
    closed_at = start + dt.timedelta(days=1)
    complete_task(task=task, actor=csm, outcome_note="Called them", now=closed_at)
    # Back to yellow, then red again 5 days after the close: inside the cooldown.
    again = closed_at + dt.timedelta(days=5)
    assert (
        evaluate_score_changes(
            changes=[change(account, band="red", score=25, previous_band="yellow", at=again)],
            now=again,
        )
        == 0
    )
    # 11 days after the close: the cooldown is over, a new task appears.
    later = closed_at + dt.timedelta(days=11)
    assert (
        evaluate_score_changes(
            changes=[change(account, band="red", score=22, previous_band="yellow", at=later)],
            now=later,
        )
        == 1
    )
    assert Task.objects.filter(playbook=playbook).count() == 2


def test_cooldown_counts_from_the_firing_too(csm: User, account: Account) -> None:
    playbook = PlaybookFactory.create(cooldown_days=10)
    t0 = NOW - dt.timedelta(days=5)
    evaluate_score_changes(
        changes=[change(account, band="red", score=20, previous_band="yellow", at=t0)], now=t0
    )
    [task] = open_tasks(playbook)
    cancel_task(task=task, actor=csm, reason="dup", now=t0)
    Task.objects.filter(pk=task.pk).update(closed_at=t0 - dt.timedelta(days=30))  # old close
    assert (
        evaluate_score_changes(
            changes=[change(account, band="red", score=20, previous_band="yellow")]
        )
        == 0
    )


# --- score drop -----------------------------------------------------------------------------


def test_score_drop_of_n_points_within_d_days_fires(account: Account) -> None:
    playbook = PlaybookFactory.create(
        trigger_type=TriggerType.SCORE_DROP, band="", drop_points=15, drop_days=14
    )
    record_score(account, 80, "green", NOW - dt.timedelta(days=10))
    record_score(account, 72, "green", NOW - dt.timedelta(days=3))
    created = evaluate_score_changes(
        changes=[change(account, band="yellow", score=64, previous_band="green", previous_score=72)]
    )
    assert created == 1
    run = PlaybookRun.objects.get(playbook=playbook)
    assert run.values["drop"] == 16 and run.values["peak"] == 80


def test_score_drop_outside_the_window_or_too_small_does_not_fire(account: Account) -> None:
    PlaybookFactory.create(
        trigger_type=TriggerType.SCORE_DROP, band="", drop_points=15, drop_days=14
    )
    record_score(account, 90, "green", NOW - dt.timedelta(days=20))  # outside 14 days
    record_score(account, 75, "green", NOW - dt.timedelta(days=5))
    assert (
        evaluate_score_changes(
            changes=[
                change(account, band="green", score=70, previous_band="green", previous_score=75)
            ]
        )
        == 0
    )


# --- metric threshold -----------------------------------------------------------------------


def test_metric_average_crossing_below_a_threshold_fires_once(account: Account) -> None:
    logins = MetricFactory.create(key="logins")
    playbook = PlaybookFactory.create(
        trigger_type=TriggerType.METRIC_THRESHOLD,
        band="",
        metric=logins,
        metric_aggregation="avg",
        metric_window_days=7,
        threshold_direction="below",
        threshold=10,
    )
    first = NOW - dt.timedelta(days=2)
    metric_value(account, logins, 20, first - dt.timedelta(hours=1))
    change(account, band="green", score=80, at=first)  # previous score: avg 20, above
    metric_value(account, logins, 2, NOW - dt.timedelta(hours=2))
    metric_value(account, logins, 1, NOW - dt.timedelta(hours=1))
    c = change(account, band="yellow", score=60, previous_band="green", previous_score=80)
    assert evaluate_score_changes(changes=[c]) == 1
    run = PlaybookRun.objects.get(playbook=playbook)
    assert run.values["metric_value"] == pytest.approx(23 / 3)
    assert run.values["previous_metric_value"] == 20


def test_metric_already_below_at_the_previous_score_is_not_a_crossing(account: Account) -> None:
    logins = MetricFactory.create(key="logins")
    PlaybookFactory.create(
        trigger_type=TriggerType.METRIC_THRESHOLD,
        band="",
        metric=logins,
        metric_aggregation="latest",
        metric_window_days=7,
        threshold=10,
    )
    before = NOW - dt.timedelta(days=1)
    metric_value(account, logins, 3, before - dt.timedelta(hours=1))
    change(account, band="yellow", score=50, at=before)
    metric_value(account, logins, 2, NOW - dt.timedelta(hours=1))
    assert (
        evaluate_score_changes(
            changes=[
                change(account, band="yellow", score=49, previous_band="yellow", previous_score=50)
            ]
        )
        == 0
    )


# --- time-based -----------------------------------------------------------------------------


def test_renewal_within_n_days_while_not_green_fires_on_the_sweep_for_the_manager(
    csm: User, manager: User, account: Account
) -> None:
    playbook = PlaybookFactory.create(
        trigger_type=TriggerType.RENEWAL_WINDOW,
        band="",
        days=90,
        bands=["red", "yellow"],
        task__title="Renewal-risk review: {account_name} renews {renewal_date}",
        task__assignee_rule=PlaybookAction.AssigneeRule.OWNER_MANAGER,
    )
    renewing = timezone.localdate() + dt.timedelta(days=40)
    Account.objects.filter(pk=account.pk).update(renewal_date=renewing, health_band="yellow")
    green = AccountFactory.create(owner=csm, renewal_date=renewing, green=True)
    far = AccountFactory.create(owner=csm, red=True)  # renews in 120 days
    assert evaluate_time_triggers() == 1
    [task] = open_tasks(playbook)
    assert task.account == account and task.assignee == manager
    assert task.title == f"Renewal-risk review: Acme Corp renews {renewing:%b %-d, %Y}"
    assert not Task.objects.filter(account__in=[green, far]).exists()


def test_nps_detractor_fires_once_per_feedback(csm: User, account: Account) -> None:
    playbook = PlaybookFactory.create(
        trigger_type=TriggerType.NEGATIVE_FEEDBACK, band="", cooldown_days=0
    )
    FeedbackFactory.create(account=account, kind=Feedback.Kind.NPS, score=9)
    assert evaluate_time_triggers() == 0
    fb = FeedbackFactory.create(account=account, kind=Feedback.Kind.NPS, score=4, text="Too slow")
    assert evaluate_feedback(account_ids=[fb.account_id]) == 1
    [task] = open_tasks(playbook)
    complete_task(task=task, actor=csm, outcome_note="Apologised, fixed")
    # Same feedback, cooldown 0: it already fired for it, so nothing new.
    assert evaluate_time_triggers() == 0
    FeedbackFactory.create(account=account, kind=Feedback.Kind.CALL, sentiment="negative")
    assert evaluate_time_triggers() == 1


def test_no_metric_activity_for_n_days(csm: User, account: Account) -> None:
    usage = MetricFactory.create(key="usage")
    playbook = PlaybookFactory.create(trigger_type=TriggerType.NO_ACTIVITY, band="", days=14)
    Account.objects.filter(pk=account.pk).update(created_at=NOW - dt.timedelta(days=100))
    active = AccountFactory.create(owner=csm)
    Account.objects.filter(pk=active.pk).update(created_at=NOW - dt.timedelta(days=100))
    metric_value(account, usage, 5, NOW - dt.timedelta(days=20))
    metric_value(active, usage, 5, NOW - dt.timedelta(days=2))
    AccountFactory.create(owner=csm)  # brand new: not inactive yet
    assert evaluate_time_triggers() == 1
    run = PlaybookRun.objects.get(playbook=playbook)
    assert run.account == account and run.values["inactive_days"] == 20


# --- conditions -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("conditions", "fires"),
    [
        ({"segments": ["Enterprise"]}, False),
        ({"segments": ["SMB", "Enterprise"]}, True),
        ({"arr_min": Decimal("20000")}, False),
        ({"arr_min": Decimal("10000"), "arr_max": Decimal("15000")}, True),
        ({"arr_max": Decimal("5000")}, False),
        ({"lifecycle_stages": ["renewal"]}, False),
        ({"lifecycle_stages": ["adoption", "renewal"]}, True),
    ],
)
def test_conditions_on_segment_arr_and_lifecycle(
    account: Account, conditions: dict[str, object], fires: bool
) -> None:
    PlaybookFactory.create(**conditions)  # account: SMB, ARR 12 000, adoption
    created = evaluate_score_changes(
        changes=[change(account, band="red", score=20, previous_band="yellow")]
    )
    assert created == int(fires)


def test_team_condition(
    account: Account, team: Team, other_account: Account, other_team: Team
) -> None:
    playbook = PlaybookFactory.create()
    playbook.teams.set([other_team])
    created = evaluate_score_changes(
        changes=[
            change(account, band="red", score=20, previous_band="yellow"),
            change(other_account, band="red", score=20, previous_band="yellow"),
        ]
    )
    assert created == 1
    assert open_tasks(playbook)[0].account == other_account


# --- assignee rules -------------------------------------------------------------------------


def fire_for(accounts: list[Account], **task: object) -> list[Task]:
    playbook = PlaybookFactory.create(**{f"task__{k}": v for k, v in task.items()})
    evaluate_score_changes(
        changes=[change(a, band="red", score=20, previous_band="yellow") for a in accounts]
    )
    return list(Task.objects.filter(playbook=playbook).order_by("account__external_id"))


def test_assignee_named_user(account: Account, admin: User) -> None:
    [task] = fire_for([account], assignee_rule="named_user", assignee_user=admin)
    assert task.assignee == admin


def test_assignee_owner_manager(account: Account, manager: User) -> None:
    [task] = fire_for([account], assignee_rule="owner_manager")
    assert task.assignee == manager


def test_assignee_round_robin_in_the_owners_team(csm: User, teammate: User) -> None:
    third = UserFactory.create(username="third", role=Role.CSM, team=csm.team)
    accounts = [AccountFactory.create(owner=csm, external_id=f"RR-{i}") for i in range(4)]
    tasks = fire_for(accounts, assignee_rule="round_robin")
    members = sorted([csm, teammate, third], key=lambda u: u.pk)
    assert [t.assignee for t in tasks] == [members[0], members[1], members[2], members[0]]
    # The turn is remembered between firings.
    more = AccountFactory.create(owner=csm, external_id="RR-9")
    playbook = Playbook.objects.get()
    evaluate_score_changes(changes=[change(more, band="red", score=20, previous_band="green")])
    assert Task.objects.get(playbook=playbook, account=more).assignee == members[1]


def test_assignee_fewest_open_tasks_in_the_owners_team(
    csm: User, teammate: User, account: Account, teammate_account: Account
) -> None:
    from tests.factories import TaskFactory

    TaskFactory.create_batch(2, account=account, assignee=csm)
    TaskFactory.create(account=teammate_account, assignee=teammate)
    [task] = fire_for([account], assignee_rule="fewest_open")
    assert task.assignee == teammate


# --- other actions --------------------------------------------------------------------------


def test_notify_and_start_plan_actions(
    csm: User, account: Account, team: Team, django_capture_on_commit_callbacks: object
) -> None:
    team.slack_webhook_url = ""
    team.save()
    template = SuccessPlanTemplate.objects.create(name="Recovery")
    TemplateMilestone.objects.create(template=template, title="Exec call", due_in_days=7)
    playbook = PlaybookFactory.create()
    PlaybookAction.objects.create(
        playbook=playbook, kind="notify", title_template="{account_name} is red", position=1
    )
    PlaybookAction.objects.create(
        playbook=playbook, kind="start_plan", plan_template=template, position=2
    )
    from django.core import mail

    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        evaluate_score_changes(
            changes=[change(account, band="red", score=20, previous_band="yellow")]
        )
    note = Notification.objects.get(recipient=csm)
    assert note.title == "Acme Corp is red" and note.email_status == "sent"
    assert [m.subject for m in mail.outbox] == ["[CHS] Acme Corp is red"]
    plan = SuccessPlan.objects.get(account=account)
    assert plan.milestones.get().due_date == timezone.localdate() + dt.timedelta(days=7)


def test_two_task_templates_create_two_tasks_once(account: Account) -> None:
    playbook = PlaybookFactory.create()
    PlaybookAction.objects.create(
        playbook=playbook, title_template="Email {account_name}", position=1
    )
    c = change(account, band="red", score=20, previous_band="yellow")
    assert evaluate_score_changes(changes=[c]) == 2
    assert evaluate_score_changes(changes=[c]) == 0
    assert sorted(Task.objects.values_list("step", flat=True)) == [0, 1]


# --- preview --------------------------------------------------------------------------------


def test_preview_lists_accounts_tasks_and_people_and_creates_nothing(
    csm: User, account: Account, teammate_account: Account
) -> None:
    playbook = PlaybookFactory.create(enabled=False)
    Account.objects.filter(pk__in=[account.pk, teammate_account.pk]).update(health_band="red")
    AccountFactory.create(owner=csm, green=True)
    counts = (Task.objects.count(), PlaybookRun.objects.count(), Activity.objects.count())
    preview = preview_playbook(playbook, now=timezone.now())
    assert preview.matched == 2 and preview.blocked == 0
    assert {r.account.name for r in preview.rows} == {"Acme Corp", "Teammate Ltd"}
    assert {r.tasks[0].assignee.username for r in preview.rows} == {"csm", "teammate"}  # type: ignore[union-attr]
    assert (Task.objects.count(), PlaybookRun.objects.count(), Activity.objects.count()) == counts


def test_preview_leaves_out_accounts_with_an_open_task(account: Account) -> None:
    playbook = PlaybookFactory.create()
    evaluate_score_changes(changes=[change(account, band="red", score=20, previous_band="yellow")])
    preview = preview_playbook(playbook, now=timezone.now())
    assert preview.matched == 1 and preview.blocked == 1 and preview.rows == []


def test_run_now_fires_what_the_preview_showed(admin: User, account: Account) -> None:
    playbook = PlaybookFactory.create()
    Account.objects.filter(pk=account.pk).update(health_band="red")
    assert run_playbook_now(playbook=playbook, actor=admin) == 1
    assert PlaybookRun.objects.get().source == PlaybookRun.Source.MANUAL


def test_playbook_validation_names_the_missing_field() -> None:
    from django.core.exceptions import ValidationError

    playbook = Playbook(name="x", trigger_type=TriggerType.SCORE_DROP)
    with pytest.raises(ValidationError) as err:
        playbook.full_clean()
    assert "drop_points" in err.value.message_dict and "drop_days" in err.value.message_dict
    action = PlaybookAction(playbook=Playbook(), title_template="Hi {nope} {account.__class__}")
    with pytest.raises(ValidationError) as err2:
        action.clean()
    assert "title_template" in err2.value.message_dict


def test_nps_detractor_recorded_as_a_metric_value_fires_too(csm: User, account: Account) -> None:
    nps = MetricFactory.create(key="nps")
    playbook = PlaybookFactory.create(trigger_type=TriggerType.NEGATIVE_FEEDBACK, band="", days=14)
    metric_value(account, nps, 9, NOW - dt.timedelta(days=2))
    assert evaluate_time_triggers() == 0
    metric_value(account, nps, 3, NOW - dt.timedelta(days=1))
    assert evaluate_time_triggers() == 1
    assert PlaybookRun.objects.get(playbook=playbook).values["nps"] == 3


def test_a_transient_database_error_leaves_the_events_for_the_next_run(
    account: Account, teammate_account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.db import OperationalError

    from playbooks import tasks
    from playbooks.services import firing
    from scoring.models import ScoreEvent
    from scoring.services.events import consumer_bit

    broken = PlaybookFactory.create(name="A broken one")
    healthy = PlaybookFactory.create(name="B healthy one")
    real_fire = firing.fire

    def flaky_fire(*, playbook: Playbook, **kwargs: object) -> int:
        if playbook == broken:
            raise OperationalError("deadlock detected")
        return real_fire(playbook=playbook, **kwargs)  # type: ignore[arg-type]

    event = ScoreEvent.objects.create(
        kind=ScoreEvent.Kind.SCORE,
        account=account,
        previous_score=55,
        previous_band="yellow",
        score=20,
        band="red",
        created_at=NOW,
    )
    monkeypatch.setattr(firing, "fire", flaky_fire)
    with pytest.raises(OperationalError):
        firing.process_score_events()
    # The batch is all or nothing: not even the healthy playbook's task stayed, and the
    # event waits for the next run (the task retries transient errors; beat runs it too).
    assert not Task.objects.exists()
    playbooks_bit = consumer_bit("playbooks")
    event.refresh_from_db()
    assert event.pending & playbooks_bit
    assert OperationalError in tasks.process_score_events.autoretry_for
    monkeypatch.setattr(firing, "fire", real_fire)
    assert firing.process_score_events() == 2
    assert Task.objects.filter(playbook=broken).count() == 1
    assert Task.objects.filter(playbook=healthy).count() == 1
    event.refresh_from_db()
    assert not event.pending & playbooks_bit  # seen by playbooks (webhooks may still wait)
    assert firing.process_score_events() == 0  # a second run finds nothing left


@pytest.mark.django_db(transaction=True)
def test_logging_a_detractor_answer_fires_its_playbook_at_once(csm: User, account: Account) -> None:
    from scoring.services.feedback import log_feedback

    playbook = PlaybookFactory.create(
        trigger_type=TriggerType.NEGATIVE_FEEDBACK, band="", cooldown_days=0
    )
    log_feedback(user=csm, account=account, kind=Feedback.Kind.NPS, score=9, text="Love it")
    assert not open_tasks(playbook)
    log_feedback(user=csm, account=account, kind=Feedback.Kind.NPS, score=3, text="Too slow")
    [task] = open_tasks(playbook)  # no sweep ran: the task came from logging the answer
    assert task.account == account
