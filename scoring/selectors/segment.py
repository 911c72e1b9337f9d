"""Reads for the Segment-compatible ingest: its settings, the event names seen, the lag."""

from __future__ import annotations

import datetime as dt

from django.db.models import Min

from scoring.models import SegmentEvent, SegmentEventName, SegmentSettings

EVENT_NAMES_SHOWN = 200


def segment_settings() -> SegmentSettings:
    """The configuration row, or the defaults (switched off) before anyone saved it."""
    return SegmentSettings.objects.filter(pk=1).first() or SegmentSettings(pk=1)


def seen_event_names(limit: int = EVENT_NAMES_SHOWN) -> list[str]:
    """The track event names seen most recently, alphabetically."""
    recent = SegmentEventName.objects.order_by("-last_seen_at").values_list("name", flat=True)
    return sorted(recent[:limit])


def pending_events() -> tuple[int, dt.datetime | None]:
    """How many staged events wait for the roll-up, and when the oldest arrived."""
    row = SegmentEvent.objects.aggregate(oldest=Min("received_at"))
    return SegmentEvent.objects.count(), row["oldest"]
