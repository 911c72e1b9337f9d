from __future__ import annotations

import datetime as dt

import pytest

from connectors.demo import seed
from connectors.models import Connector

pytestmark = pytest.mark.django_db


def test_demo_connectors_are_disabled_examples_without_credentials_and_seed_once() -> None:
    assert seed(today=dt.date(2026, 12, 1)) == {"connectors": 4}
    hubspot = Connector.objects.get(kind="hubspot")
    stripe = Connector.objects.get(kind="stripe")
    assert not hubspot.enabled and not stripe.enabled
    assert hubspot.credential_encrypted == "" and stripe.credential_encrypted == ""
    assert hubspot.mapping["segment_property"] == "chs_segment"
    assert hubspot.mapping["lifecycle_property"] == "lifecyclestage"  # a default kept
    assert hubspot.mapping["metrics"]["hs_analytics_num_visits"] == "website_visits"
    assert stripe.mapping == {"metadata_key": "chs_account_id"}
    assert seed(today=dt.date(2026, 12, 2)) == {"connectors": 0}
