"""The Segment endpoint's configuration: switched on or off, the traits that name an
account, the event names counted per day. Admins change it on /scoring/product-analytics/; every
change is audited in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.services.audit import Action, ObjectType, diff, record_audit, snapshot
from chs_site.errors import ValidationFailed
from scoring.models import SegmentSettings
from scoring.services.segment_rollup import event_metric_key

FIELDS = ("enabled", "group_trait", "identify_trait", "tracked_events")
MAX_TRACKED = 50


def check_tracked_events(names: Sequence[str]) -> list[str]:
    """The selected event names, trimmed, deduplicated and sorted; ValidationFailed naming
    the problem when two names would share one metric key or there are too many."""
    cleaned = sorted({n.strip() for n in names if n.strip()})
    if len(cleaned) > MAX_TRACKED:
        raise ValidationFailed(
            f"Select at most {MAX_TRACKED} events.",
            errors=[{"field": "tracked_events", "reason": f"{len(cleaned)} selected"}],
        )
    errors = []
    by_key: dict[str, str] = {}
    for name in cleaned:
        if len(name) > 200:
            errors.append(
                {"field": "tracked_events", "reason": f"{name[:40]!r}… is over 200 characters"}
            )
            continue
        key = event_metric_key(name)
        if key in by_key:
            errors.append(
                {
                    "field": "tracked_events",
                    "reason": f"{by_key[key]!r} and {name!r} would both be counted as {key}; keep one",
                }
            )
        by_key[key] = name
    if errors:
        raise ValidationFailed("Some event names cannot be counted.", errors=errors)
    return cleaned


@transaction.atomic
def update_segment_settings(
    *,
    actor: User | None,
    enabled: bool,
    group_trait: str = "",
    identify_trait: str = "",
    tracked_events: Sequence[str] = (),
) -> SegmentSettings:
    config, _ = SegmentSettings.objects.select_for_update().get_or_create(pk=1)
    before = snapshot(config, FIELDS)
    config.enabled = enabled
    config.group_trait = group_trait.strip()
    config.identify_trait = identify_trait.strip()
    config.tracked_events = check_tracked_events(tracked_events)
    changes = diff(before, snapshot(config, FIELDS))
    if not changes:
        return config
    config.updated_by = actor
    config.updated_at = timezone.now()
    config.save(update_fields=[*FIELDS, "updated_by", "updated_at"])
    action = Action.UPDATED
    if set(changes) == {"enabled"}:
        action = Action.ENABLED if enabled else Action.DISABLED
    record_audit(
        action=action,
        object_type=ObjectType.OTHER,
        obj=config,
        object_id="segment",
        label="Segment ingest settings",
        changes=changes,
        actor=actor,
    )
    return config
