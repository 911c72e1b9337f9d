"""Demo connectors for ``seed_demo``: one of each kind, disabled and without a credential
(CHS ships none), with the kind's default mapping plus an example change, so the
Connectors page shows what a configured connector looks like. Keyed by name: a second run
creates nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

from connectors.mapping import effective_mapping
from connectors.models import Connector
from connectors.registry import KINDS

# Example changes to the defaults, per kind.
EXAMPLES: dict[str, dict[str, Any]] = {
    "hubspot": {
        "segment_property": "chs_segment",
        "metrics": {
            "num_associated_contacts": "hubspot_contacts",
            "hs_analytics_num_visits": "website_visits",
        },
    },
    "salesforce": {
        "instance_url": "https://acme.my.salesforce.com",
        "segment_field": "Segment__c",
        "metrics": {"NumberOfEmployees": "salesforce_employees"},
    },
    "stripe": {"metadata_key": "chs_account_id"},
    "zendesk": {"subdomain": "acme"},
}


def seed(*, today: dt.date) -> dict[str, int]:
    created = 0
    for kind, spec in KINDS.items():
        _, made = Connector.objects.get_or_create(
            name=f"{spec.label} (demo)",
            defaults={
                "kind": kind,
                "enabled": False,
                "mapping": effective_mapping(spec, EXAMPLES.get(kind, {})),
                "interval_minutes": spec.default_interval_minutes,
                "write_back": spec.push is not None,
            },
        )
        created += made
    return {"connectors": created}
