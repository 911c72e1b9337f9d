"""The Segment roll-up: staged events → daily metric values per account (distinct users,
events, selected events), its rules for unlinked users and old days, retention, and the
settings page that configures it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import Account, AuditEntry, User
from scoring.models import (
    DirtyAccount,
    MetricValue,
    SegmentDailyUser,
    SegmentEvent,
    SegmentEventName,
    SegmentMessage,
    SegmentSettings,
)
from scoring.services.segment import ingest_segment
from scoring.services.segment_rollup import (
    ACTIVE_USERS,
    EVENTS,
    prune_segment_data,
    rollup_segment_events,
)
from scoring.services.segment_settings import update_segment_settings

pytestmark = pytest.mark.django_db

DAY1 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
DAY2 = DAY1 + dt.timedelta(days=1)


@pytest.fixture
def enabled(db: None) -> SegmentSettings:
    return update_segment_settings(actor=None, enabled=True, tracked_events=["Report Exported"])


def group(message_id: str, user: str, account: Account) -> dict[str, Any]:
    return {
        "type": "group",
        "messageId": message_id,
        "userId": user,
        "groupId": account.external_id,
        "timestamp": (DAY1 - dt.timedelta(days=30)).isoformat(),
    }


def track(message_id: str, user: str, event: str, at: dt.datetime) -> dict[str, Any]:
    return {
        "type": "track",
        "messageId": message_id,
        "userId": user,
        "event": event,
        "timestamp": at.isoformat(),
    }


def values(account: Account) -> dict[tuple[str, dt.date], float]:
    return {
        (key, at.date()): value
        for key, at, value in MetricValue.objects.filter(account=account).values_list(
            "metric__key", "observed_at", "value"
        )
    }


def send(admin: User, *messages: dict[str, Any]) -> None:
    ingest_segment(user=admin, body={"batch": list(messages)})


def test_distinct_users_and_events_per_day_across_batches_and_days(
    enabled: SegmentSettings, admin: User, account: Account, other_account: Account
) -> None:
    send(
        admin,
        group("g1", "ann", account),
        group("g2", "bob", account),
        group("g3", "cy", other_account),
    )
    send(
        admin,
        track("t1", "ann", "Report Exported", DAY1),
        track("t2", "ann", "Dashboard Viewed", DAY1 + dt.timedelta(hours=1)),
        {"type": "page", "messageId": "p1", "userId": "bob", "timestamp": DAY1.isoformat()},
        track("t3", "cy", "Report Exported", DAY1),
    )
    assert rollup_segment_events().events == 4
    # A second batch: ann again on day 1 (no new user), bob on day 2.
    send(
        admin,
        track("t4", "ann", "Report Exported", DAY1 + dt.timedelta(hours=5)),
        track("t5", "bob", "Dashboard Viewed", DAY2),
    )
    rollup_segment_events()
    d1, d2 = DAY1.date(), DAY2.date()
    assert values(account) == {
        (ACTIVE_USERS, d1): 2.0,
        (EVENTS, d1): 4.0,
        ("segment_event_report_exported", d1): 2.0,
        (ACTIVE_USERS, d2): 1.0,
        (EVENTS, d2): 1.0,
    }
    assert values(other_account) == {
        (ACTIVE_USERS, d1): 1.0,
        (EVENTS, d1): 1.0,
        ("segment_event_report_exported", d1): 1.0,
    }
    # Values observed at the UTC day's start; the accounts are marked for rescoring.
    assert MetricValue.objects.filter(observed_at=DAY1.replace(hour=0)).exists()
    assert set(DirtyAccount.objects.values_list("account_id", flat=True)) >= {
        account.pk,
        other_account.pk,
    }
    # Rolled-up events leave the staging table; their ids stay for the dedupe.
    assert not SegmentEvent.objects.exists()
    assert SegmentMessage.objects.filter(message_id="t1").exists()
    assert set(SegmentEventName.objects.values_list("name", flat=True)) == {
        "Report Exported",
        "Dashboard Viewed",
    }


def test_a_replayed_batch_counts_nothing_twice(
    enabled: SegmentSettings, admin: User, account: Account
) -> None:
    batch = [group("g1", "ann", account), track("t1", "ann", "Report Exported", DAY1)]
    send(admin, *batch)
    rollup_segment_events()
    before = values(account)
    send(admin, *batch)
    assert rollup_segment_events().events == 0
    assert (
        values(account)
        == before
        == {
            (ACTIVE_USERS, DAY1.date()): 1.0,
            (EVENTS, DAY1.date()): 1.0,
            ("segment_event_report_exported", DAY1.date()): 1.0,
        }
    )


def test_only_selected_events_get_a_metric_of_their_own(
    enabled: SegmentSettings, admin: User, account: Account
) -> None:
    send(
        admin,
        group("g1", "ann", account),
        track("t1", "ann", "Dashboard Viewed", DAY1),
        track("t2", "ann", "Report Exported", DAY1),
    )
    rollup_segment_events()
    keys = {key for key, _ in values(account)}
    assert keys == {ACTIVE_USERS, EVENTS, "segment_event_report_exported"}


def test_an_event_attributed_by_context_group_needs_no_link(
    enabled: SegmentSettings, admin: User, account: Account
) -> None:
    message = track("t1", "zed", "Report Exported", DAY1)
    message["context"] = {"groupId": account.external_id}
    send(admin, message)
    rollup_segment_events()
    assert values(account)[(EVENTS, DAY1.date())] == 1.0


def test_events_of_unlinked_users_or_too_old_days_are_skipped_and_counted(
    enabled: SegmentSettings, admin: User, account: Account
) -> None:
    long_ago = timezone.now() - dt.timedelta(days=200)
    send(
        admin,
        group("g1", "ann", account),
        track("t1", "stranger", "Report Exported", DAY1),
        track("t2", "ann", "Report Exported", long_ago),
    )
    result = rollup_segment_events()
    assert (result.events, result.skipped) == (2, 2)
    assert not MetricValue.objects.exists()
    config = SegmentSettings.objects.get()
    assert (config.events_rolled_up, config.events_skipped) == (2, 2)
    assert config.last_rollup_at is not None


def test_a_deleted_account_does_not_stop_the_roll_up(
    enabled: SegmentSettings, admin: User, account: Account, other_account: Account
) -> None:
    send(admin, group("g1", "ann", account), group("g2", "bob", other_account))
    send(
        admin,
        track("t1", "ann", "Report Exported", DAY1),
        track("t2", "bob", "Report Exported", DAY1),
    )
    SegmentEvent.objects.update(account_id=None)
    other_account.delete()
    result = rollup_segment_events()
    assert (result.events, result.skipped) == (2, 1)
    assert values(account)[(EVENTS, DAY1.date())] == 1.0


def test_the_roll_up_works_in_batches(
    enabled: SegmentSettings, admin: User, account: Account
) -> None:
    send(admin, group("g1", "ann", account))
    send(admin, *(track(f"t{i}", f"user{i % 7}", "X", DAY1) for i in range(25)))
    SegmentEvent.objects.update(account_id=account.pk)
    result = rollup_segment_events(limit=10)
    assert (result.events, result.batches) == (25, 3)
    assert values(account)[(EVENTS, DAY1.date())] == 25.0
    assert values(account)[(ACTIVE_USERS, DAY1.date())] == 7.0


def test_prune_keeps_message_ids_a_week_and_daily_rows_ninety_days(
    enabled: SegmentSettings, admin: User, account: Account
) -> None:
    now = timezone.now()
    send(admin, group("g1", "ann", account), track("t1", "ann", "X", now - dt.timedelta(days=1)))
    rollup_segment_events()
    assert prune_segment_data(now=now + dt.timedelta(days=6)) == (0, 0)
    messages, daily = prune_segment_data(now=now + dt.timedelta(days=8))
    assert messages == 2 and daily == 0
    assert not SegmentMessage.objects.exists()
    assert prune_segment_data(now=now + dt.timedelta(days=92))[1] == 3  # a user + 2 counts
    assert not SegmentDailyUser.objects.exists()
    assert not SegmentEventName.objects.exists()


# --- settings ------------------------------------------------------------------------------


def test_settings_changes_are_audited(admin: User) -> None:
    update_segment_settings(actor=admin, enabled=True, tracked_events=["Signed Up"])
    update_segment_settings(actor=admin, enabled=False, tracked_events=["Signed Up"])
    entries = list(AuditEntry.objects.order_by("id").values_list("action", "changes"))
    assert entries == [
        ("updated", {"enabled": [False, True], "tracked_events": [[], ["Signed Up"]]}),
        ("disabled", {"enabled": [True, False]}),
    ]
    # Saving the same again changes nothing and writes nothing.
    update_segment_settings(actor=admin, enabled=False, tracked_events=["Signed Up"])
    assert AuditEntry.objects.count() == 2


def test_event_names_that_would_share_a_metric_are_refused(admin: User) -> None:
    from chs_site.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as caught:
        update_segment_settings(
            actor=admin, enabled=True, tracked_events=["Song Played", "song-played"]
        )
    assert "segment_event_song_played" in caught.value.errors[0]["reason"]
    assert not SegmentSettings.objects.exists()


def test_admin_sees_the_settings_page_and_saves_it(
    admin_client: Client, enabled: SegmentSettings, django_assert_max_num_queries: Any
) -> None:
    SegmentEventName.objects.create(name="Dashboard Viewed", last_seen_at=timezone.now())
    with django_assert_max_num_queries(12):
        page = admin_client.get("/scoring/product-analytics/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "/api/v1/integrations/segment/" in html and "Dashboard Viewed" in html
    assert "segment_event_report_exported" in html
    response = admin_client.post(
        "/scoring/product-analytics/",
        {
            "enabled": "on",
            "tracked_events": ["Dashboard Viewed"],
            "more_events": "Signed Up\n",
            "identify_trait": "company_id",
        },
    )
    assert response.status_code == 302
    config = SegmentSettings.objects.get()
    assert config.tracked_events == ["Dashboard Viewed", "Signed Up"]
    assert config.identify_trait == "company_id"


def test_the_settings_page_names_colliding_events(admin_client: Client) -> None:
    response = admin_client.post(
        "/scoring/product-analytics/", {"more_events": "Song Played\nsong played"}
    )
    assert response.status_code == 200
    assert "would both be counted as segment_event_song_played" in response.content.decode()


def test_others_do_not_see_the_settings_page(csm_client: Client, manager_client: Client) -> None:
    assert csm_client.get("/scoring/product-analytics/").status_code == 404
    assert manager_client.post("/scoring/product-analytics/", {"enabled": "on"}).status_code == 404
    assert not SegmentSettings.objects.exists()


def test_the_demo_seeds_a_switched_off_example_once(db: None) -> None:
    from scoring.demo import seed_segment

    today = timezone.localdate()
    assert seed_segment(today=today) == {"segment_settings": 1}
    config = SegmentSettings.objects.get()
    assert not config.enabled and config.identify_trait == "company_id"
    assert config.tracked_events == ["Dashboard Viewed", "Report Exported"]
    assert seed_segment(today=today) == {"segment_settings": 0}
