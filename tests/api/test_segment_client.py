"""Segment's own Python library (segment-analytics-python) sends to CHS as it sends to
Segment: its ``host`` set to the endpoint, the CHS key as its write key (HTTP Basic), its
batches to ``<host>/v1/batch``; everything it sends lands as daily metric values."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from segment.analytics import Client as SegmentClient
from segment.analytics.request import APIError

from accounts.models import Account, User
from accounts.services.tokens import create_api_token
from scoring.models import MetricValue, SegmentUser
from scoring.services.segment_settings import update_segment_settings

# The live server runs in another thread: rows must be committed to be seen.
pytestmark = pytest.mark.django_db(transaction=True)


def test_segments_python_library_sends_to_chs(
    live_server: Any, admin: User, account: Account
) -> None:
    update_segment_settings(actor=admin, enabled=True, tracked_events=["Report Exported"])
    key = create_api_token(user=admin, scope="ingest").key
    errors: list[Exception] = []
    client = SegmentClient(
        write_key=key,
        host=f"{live_server.url}/api/v1/integrations/segment",
        sync_mode=True,  # send each call now, in this thread
        max_retries=0,
        on_error=lambda error, batch: errors.append(error),
    )
    when = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)
    client.identify("ann", {"email": "ann@acme.example"}, timestamp=when)
    client.group("ann", account.external_id, {"name": "Acme"}, timestamp=when)
    client.track("ann", "Report Exported", {"format": "csv"}, timestamp=when)
    client.page("ann", name="Reports", timestamp=when)
    client.track("ann", "Report Exported", timestamp=when + dt.timedelta(hours=1))
    client.flush()
    assert errors == []
    assert SegmentUser.objects.get(user_key="u:ann").account == account
    values = dict(MetricValue.objects.filter(account=account).values_list("metric__key", "value"))
    assert values == {
        "segment_active_users": 1.0,
        "segment_events": 3.0,
        "segment_event_report_exported": 2.0,
    }


def test_a_wrong_write_key_is_reported_to_the_library(live_server: Any, admin: User) -> None:
    update_segment_settings(actor=admin, enabled=True)
    client = SegmentClient(
        write_key="chs_wrong",
        host=f"{live_server.url}/api/v1/integrations/segment",
        sync_mode=True,
        max_retries=0,
    )
    with pytest.raises(APIError) as caught:
        client.track("ann", "Report Exported")
    assert caught.value.status == 401
    assert "Unknown API key" in caught.value.message
