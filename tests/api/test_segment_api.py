"""``POST /api/v1/integrations/segment/``: Segment's own Spec example payloads, the two ways
a key is sent, replays, malformed messages, unknown groups and the clock rules."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import Account, ApiToken, User
from accounts.services.tokens import create_api_token, revoke_api_token
from scoring.models import SegmentEvent, SegmentMessage, SegmentSettings, SegmentUser
from scoring.services.segment_settings import update_segment_settings

pytestmark = pytest.mark.django_db

URL = "/api/v1/integrations/segment/"

# Segment's Spec examples (segment.com/docs/connections/spec/…), as its webhook destination
# forwards them: identify, group, track and page. The identify, group and page examples
# share one messageId in Segment's docs.
IDENTIFY = {
    "anonymousId": "507f191e810c19729de860ea",
    "channel": "browser",
    "context": {
        "ip": "8.8.8.8",
        "userAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_12_5) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/58.0.3029.110 Safari/537.36",
    },
    "integrations": {"All": False, "Mixpanel": True, "Salesforce": True},
    "messageId": "022bb90c-bbac-11e4-8dfc-aa07a5b093db",
    "receivedAt": "2015-02-23T22:28:55.387Z",
    "sentAt": "2015-02-23T22:28:55.111Z",
    "timestamp": "2015-02-23T22:28:55.111Z",
    "traits": {
        "name": "Peter Gibbons",
        "email": "peter@example.com",
        "plan": "premium",
        "logins": 5,
        "address": {
            "street": "6th St",
            "city": "San Francisco",
            "state": "CA",
            "postalCode": "94103",
            "country": "USA",
        },
    },
    "type": "identify",
    "userId": "97980cfea0067",
    "version": "1.1",
}
GROUP = {
    "anonymousId": "507f191e810c19729de860ea",
    "channel": "browser",
    "context": {"ip": "8.8.8.8", "userAgent": "Mozilla/5.0 (Macintosh)"},
    "integrations": {"All": True, "Mixpanel": False, "Salesforce": False},
    "messageId": "022bb90c-bbac-11e4-8dfc-aa07a5b093db",
    "receivedAt": "2015-02-23T22:28:55.387Z",
    "sentAt": "2015-02-23T22:28:55.111Z",
    "timestamp": "2015-02-23T22:28:55.111Z",
    "traits": {
        "name": "Initech",
        "industry": "Technology",
        "employees": 329,
        "plan": "enterprise",
        "total billed": 830,
    },
    "type": "group",
    "userId": "97980cfea0067",
    "groupId": "0e8c78ea9d97a7b8185e8632",
    "version": "1.1",
}
TRACK = {
    "anonymousId": "23adfd82-aa0f-45a7-a756-24f2a7a4c895",
    "context": {
        "library": {"name": "analytics.js", "version": "2.11.1"},
        "page": {
            "path": "/academy/",
            "referrer": "",
            "search": "",
            "title": "Analytics Academy",
            "url": "https://segment.com/academy/",
        },
        "userAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_12_4)",
        "ip": "108.0.78.21",
    },
    "event": "Course Clicked",
    "integrations": {},
    "messageId": "ajs-f8ca1e4de5024d9430b3928bd8ac6b96",
    "properties": {"title": "Intro to Analytics"},
    "receivedAt": "2015-12-12T19:11:01.266Z",
    "sentAt": "2015-12-12T19:11:01.169Z",
    "timestamp": "2015-12-12T19:11:01.249Z",
    "type": "track",
    "userId": "AiUGstSDIg",
    "originalTimestamp": "2015-12-12T19:11:01.152Z",
}
PAGE = {
    "anonymousId": "507f191e810c19729de860ea",
    "channel": "browser",
    "context": {"ip": "8.8.8.8", "userAgent": "Mozilla/5.0 (Macintosh)"},
    "integrations": {"All": True, "Mixpanel": False, "Salesforce": False},
    "messageId": "022bb90c-bbac-11e4-8dfc-aa07a5b093db",
    "name": "Home",
    "properties": {"title": "Welcome | Initech", "url": "http://www.initech.com"},
    "receivedAt": "2015-02-23T22:28:55.387Z",
    "sentAt": "2015-02-23T22:28:55.111Z",
    "timestamp": "2015-02-23T22:28:55.111Z",
    "type": "page",
    "userId": "97980cfea0067",
    "version": "1.1",
}
# The HTTP tracking API's batch example: no messageIds, no receivedAt.
BATCH: dict[str, Any] = {
    "batch": [
        {
            "type": "identify",
            "userId": "019mr8mf4r",
            "traits": {"email": "jake@yahoo.com", "name": "Jake Peterson", "age": 26},
            "timestamp": "2012-12-02T00:30:08.276Z",
        },
        {
            "type": "track",
            "userId": "019mr8mf4r",
            "event": "Song Played",
            "properties": {"name": "Fallin for You", "artist": "Dierks Bentley"},
            "timestamp": "2012-12-02T00:30:12.984Z",
        },
        {
            "type": "identify",
            "userId": "971mj8mk7p",
            "traits": {"email": "cindy@example.com", "name": "Cindy Gonzalez", "age": 23},
            "timestamp": "2012-12-02T00:30:09.276Z",
        },
        {
            "type": "track",
            "userId": "971mj8mk7p",
            "event": "Song Played",
            "properties": {"name": "Get Right", "artist": "Jennifer Lopez"},
            "timestamp": "2012-12-02T00:30:13.276Z",
        },
    ],
    "context": {"device": {"type": "phone", "name": "Apple iPhone 6"}},
}


@pytest.fixture
def enabled(db: None) -> SegmentSettings:
    return update_segment_settings(actor=None, enabled=True)


@pytest.fixture
def initech(csm: User) -> Account:
    return Account.objects.create(external_id="0e8c78ea9d97a7b8185e8632", name="Initech", owner=csm)


def basic(key: str, password: str = "") -> dict[str, str]:
    raw = base64.b64encode(f"{key}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def post(body: Any, headers: dict[str, str], url: str = URL) -> Any:
    return Client().post(url, json.dumps(body), content_type="application/json", headers=headers)


@pytest.fixture
def key(admin: User) -> str:
    return create_api_token(user=admin, scope=ApiToken.Scope.INGEST).key


def test_segment_spec_examples_are_accepted_with_a_basic_write_key(
    enabled: SegmentSettings, key: str, initech: Account
) -> None:
    for example in (IDENTIFY, GROUP, TRACK, PAGE):
        response = post(example, basic(key))
        assert response.status_code == 200, response.content
    # The group example links its user to Initech (its groupId is Initech's external id),
    # though its messageId is the identify example's: a link is idempotent by itself.
    assert SegmentUser.objects.get(user_key="u:97980cfea0067").account == initech
    # Track is staged; page shares the identify example's messageId, so it is a duplicate.
    assert list(SegmentEvent.objects.values_list("user_key", "event")) == [
        ("u:AiUGstSDIg", "Course Clicked")
    ]
    assert SegmentMessage.objects.count() == 2
    # Came through Segment (receivedAt): its timestamp is already skew-corrected.
    assert SegmentEvent.objects.get().occurred_at == dt.datetime(
        2015, 12, 12, 19, 11, 1, 249000, tzinfo=dt.UTC
    )


def test_the_batch_example_is_accepted_with_a_token_key_and_counts_every_message(
    enabled: SegmentSettings, key: str
) -> None:
    response = post(BATCH, {"Authorization": f"Token {key}"})
    assert response.status_code == 200
    assert response.json() == {"accepted": 4, "duplicates": 0, "skipped": []}
    assert SegmentEvent.objects.count() == 2
    # Without messageIds, each message gets one from its content: a replay is a duplicate.
    again = post(BATCH, {"Authorization": f"Token {key}"})
    assert again.json() == {"accepted": 4, "duplicates": 4, "skipped": []}
    assert SegmentEvent.objects.count() == 2


def test_segment_libraries_path_takes_the_same_batch(enabled: SegmentSettings, key: str) -> None:
    response = post(BATCH, basic(key), url=URL + "v1/batch")
    assert response.status_code == 200
    assert response.json()["accepted"] == 4


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Token chs_not-a-key"},
        basic("chs_not-a-key"),
        {"Authorization": "Basic !!!"},
    ],
    ids=["none", "bad token", "bad basic", "not base64"],
)
def test_a_missing_or_unknown_key_is_401_and_stores_nothing(
    enabled: SegmentSettings, headers: dict[str, str]
) -> None:
    response = post(TRACK, headers)
    assert response.status_code == 401
    assert response.json()["error"]
    assert not SegmentMessage.objects.exists()


def test_a_basic_key_with_a_password_or_a_revoked_key_is_401(
    enabled: SegmentSettings, admin: User
) -> None:
    issued = create_api_token(user=admin, scope=ApiToken.Scope.INGEST)
    assert post(TRACK, basic(issued.key, "secret")).status_code == 401
    revoke_api_token(token=issued.token)
    response = post(TRACK, basic(issued.key))
    assert response.status_code == 401 and "revoked" in response.json()["error"]


def test_a_read_key_and_a_browser_session_cannot_send(
    enabled: SegmentSettings, admin: User, admin_client: Client
) -> None:
    read = create_api_token(user=admin, scope=ApiToken.Scope.READ).key
    assert post(TRACK, basic(read)).status_code == 403
    session = admin_client.post(URL, json.dumps(TRACK), content_type="application/json")
    assert session.status_code == 401
    assert not SegmentMessage.objects.exists()


def test_switched_off_the_endpoint_refuses_and_stores_nothing(db: None, key: str) -> None:
    response = post(TRACK, basic(key))
    assert response.status_code == 403
    assert "switched off" in response.json()["error"]
    assert not SegmentMessage.objects.exists()


def test_a_malformed_message_is_named_and_nothing_of_the_batch_is_stored(
    enabled: SegmentSettings, key: str, initech: Account
) -> None:
    body = copy.deepcopy(BATCH)
    body["batch"].insert(0, {**GROUP, "messageId": "g-1"})
    body["batch"].append({"type": "track", "userId": "971mj8mk7p", "timestamp": "2012-12-02"})
    body["batch"].append({"type": "launch", "userId": "x"})
    body["batch"].append({"type": "page", "name": "Home"})
    response = post(body, basic(key))
    assert response.status_code == 400
    payload = response.json()
    assert payload["error"] == "3 of 8 messages are malformed; nothing was stored."
    assert {(d["index"], d["field"]) for d in payload["details"]} == {
        (5, "event"),
        (6, "type"),
        (7, "userId"),
    }
    assert "send userId or anonymousId" in payload["details"][-1]["reason"]
    assert not SegmentMessage.objects.exists()
    assert not SegmentEvent.objects.exists()
    assert not SegmentUser.objects.exists()  # the good group call in it linked nothing


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([TRACK], "body"),
        ({"batch": {}}, "batch"),
        ({"batch": []}, "batch"),
        ({"batch": [TRACK], "sentAt": "yesterday"}, "sentAt"),
        ({**TRACK, "messageId": 42}, "messageId"),
        ({**TRACK, "userId": 42}, "userId"),
        ({**TRACK, "traits": []}, "traits"),
        ({**TRACK, "timestamp": "12/12/2015"}, "timestamp"),
        ({**GROUP, "groupId": None}, "groupId"),
        ({**TRACK, "messageId": "m" * 101}, "messageId"),
        ({**TRACK, "type": {}}, "type"),
        ({**PAGE, "event": "e" * 201}, "event"),
        ({**TRACK, "event": "Signed\x00In"}, "event"),
        ({"batch": [TRACK], "sentAt": "0001-01-01T00:00:00+17:50"}, "sentAt"),
        ({**TRACK, "receivedAt": "0001-01-01T00:00:00+17:50"}, "receivedAt"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(
    enabled: SegmentSettings, key: str, body: Any, field: str
) -> None:
    response = post(body, basic(key))
    assert response.status_code == 400, response.content
    assert field in {d["field"] for d in response.json()["details"]}
    assert not SegmentMessage.objects.exists()


def test_malformed_json_is_a_400(enabled: SegmentSettings, key: str) -> None:
    response = Client().post(URL, "{not json", content_type="application/json", headers=basic(key))
    assert response.status_code == 400


def test_an_unknown_group_is_skipped_not_an_error(enabled: SegmentSettings, key: str) -> None:
    body = {"batch": [{**GROUP, "messageId": "g-1"}, {**TRACK, "context": {"groupId": "NOPE"}}]}
    response = post(body, basic(key))
    assert response.status_code == 200
    skipped = response.json()["skipped"]
    assert [(s["index"], s["field"]) for s in skipped] == [(0, "groupId"), (1, "context.groupId")]
    assert "0e8c78ea9d97a7b8185e8632" in skipped[0]["reason"]
    assert not SegmentUser.objects.exists()
    assert SegmentEvent.objects.get().account_id is None  # counted through its user, if linked


def test_a_csm_key_links_only_to_accounts_in_its_book(
    enabled: SegmentSettings, csm: User, account: Account, other_account: Account
) -> None:
    key = create_api_token(user=csm, scope=ApiToken.Scope.INGEST).key
    body = {
        "batch": [
            {**GROUP, "messageId": "g-own", "userId": "u1", "groupId": account.external_id},
            {**GROUP, "messageId": "g-other", "userId": "u2", "groupId": other_account.external_id},
        ]
    }
    response = post(body, basic(key))
    assert response.status_code == 200
    assert [s["index"] for s in response.json()["skipped"]] == [1]
    assert dict(SegmentUser.objects.values_list("user_key", "account_id")) == {"u:u1": account.pk}


def test_the_newest_group_call_wins_and_an_older_replay_changes_nothing(
    enabled: SegmentSettings, key: str, account: Account, other_account: Account
) -> None:
    older = {**GROUP, "messageId": "g-old", "groupId": account.external_id}
    newer = {
        **GROUP,
        "messageId": "g-new",
        "groupId": other_account.external_id,
        "timestamp": "2015-02-24T10:00:00Z",
        "receivedAt": "2015-02-24T10:00:00Z",
    }
    post(newer, basic(key))
    post({**older, "messageId": "g-old-resent"}, basic(key))
    assert SegmentUser.objects.get(user_key="u:97980cfea0067").account == other_account


def test_configured_traits_name_the_account(
    key: str, account: Account, other_account: Account
) -> None:
    update_segment_settings(
        actor=None, enabled=True, group_trait="external_id", identify_trait="company_id"
    )
    body = {
        "batch": [
            {**GROUP, "messageId": "g", "traits": {"external_id": account.external_id}},
            {
                "type": "identify",
                "userId": "peter",
                "messageId": "i",
                "traits": {"company_id": other_account.external_id},
            },
        ]
    }
    assert post(body, basic(key)).status_code == 200
    assert dict(SegmentUser.objects.values_list("user_key", "account_id")) == {
        "u:97980cfea0067": account.pk,
        "u:peter": other_account.pk,
    }


def test_clock_skew_is_corrected_with_sent_at_and_absurd_future_times_refused(
    enabled: SegmentSettings, key: str
) -> None:
    now = timezone.now()
    # The sender's clock is an hour fast: it stamped the event 10 s before sending.
    fast = now + dt.timedelta(hours=1)
    message = {
        "type": "track",
        "event": "Signed In",
        "userId": "u1",
        "messageId": "skewed",
        "timestamp": (fast - dt.timedelta(seconds=10)).isoformat(),
        "sentAt": fast.isoformat(),
    }
    assert post(message, basic(key)).status_code == 200
    stored = SegmentEvent.objects.get().occurred_at
    assert abs((stored - (now - dt.timedelta(seconds=10))).total_seconds()) < 5
    # Without sentAt nothing can be corrected: an hour ahead is refused.
    future = {**message, "messageId": "future", "sentAt": None, "timestamp": fast.isoformat()}
    response = post(future, basic(key))
    assert response.status_code == 400
    assert response.json()["details"] == [
        {"index": 0, "field": "timestamp", "reason": response.json()["details"][0]["reason"]}
    ]
    assert "in the future" in response.json()["details"][0]["reason"]
    # No timestamp at all: it happened when it arrived.
    post({**message, "messageId": "now", "timestamp": None, "sentAt": None}, basic(key))
    arrived = SegmentEvent.objects.order_by("-id").first()
    assert arrived is not None
    assert abs((arrived.occurred_at - timezone.now()).total_seconds()) < 30
