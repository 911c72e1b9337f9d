"""Product analytics in, Segment-compatible: read Segment Spec messages, accept them cheaply.

A request carries one message (as Segment's webhook destination sends them) or a batch
(``{"batch": [...]}``, as Segment's libraries and HTTP tracking API send them). The whole
request is checked first: a malformed message (not an object, unknown ``type``, no user, a
track without ``event``, an unreadable or absurdly future time) is a 400 naming its index,
field and why, and nothing of the request is stored. Then, in one transaction:

- each ``messageId`` is recorded (``SegmentMessage``, unique): a message seen before is a
  duplicate and changes nothing, so a replayed batch is harmless. A message without one
  gets an id derived from its content, so an identical replay is still a duplicate;
- ``group`` (and ``identify`` carrying the configured trait) links its user to the account
  whose external_id is the ``groupId`` (or the configured group trait); the newest message
  wins. An unknown groupId (or one outside the key's scope) links nothing and is listed in
  the answer's ``skipped``; it is not an error for the batch;
- ``track``, ``page`` and ``screen`` are written to the staging table (``SegmentEvent``),
  which the roll-up (``scoring.services.segment_rollup``) turns into daily metric values
  seconds later; ``alias`` is accepted and ignored.

Times follow Segment's rules: a message that came through Segment (it has ``receivedAt``)
has its ``timestamp`` already corrected for the sender's clock; for one sent straight here,
``timestamp`` is corrected by the sender's clock skew, ``now - (sentAt - timestamp)``, when
``sentAt`` is given (on the message or the batch); without ``timestamp`` the message
happened when it arrived. A time more than ``FUTURE_TOLERANCE`` ahead is refused, as every
other door of CHS refuses it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from accounts.models import User
from chs_site.errors import PermissionDenied, ValidationFailed
from chs_site.parsing import check_not_future, parse_observed_at
from scoring.models import SegmentEvent, SegmentSettings
from scoring.selectors.segment import segment_settings
from scoring.services.ingest import account_ids_for
from scoring.services.segment_rollup import schedule_rollup

MAX_MESSAGES = 10_000
MAX_ID_LENGTH = 100  # messageId
MAX_USER_LENGTH = 255  # userId / anonymousId
MAX_EVENT_LENGTH = 200
MAX_SKIPPED_SHOWN = 100
COUNTED_TYPES = frozenset({"track", "page", "screen"})
MESSAGE_TYPES = frozenset({"identify", "group", "alias", *COUNTED_TYPES})
# Spec fields CHS reads or documents: their JSON type is checked, the rest is ignored.
OBJECT_FIELDS = ("traits", "properties", "context")
STRING_FIELDS = ("messageId", "userId", "anonymousId", "groupId", "event", "name")


@dataclass
class SegmentResult:
    """What a request did: ``accepted`` messages, of which ``duplicates`` were seen before;
    ``skipped`` lists the links and attributions that named no account you may use."""

    accepted: int = 0
    duplicates: int = 0
    skipped: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "skipped": self.skipped[:MAX_SKIPPED_SHOWN],
        }


@dataclass
class _Parsed:
    index: int
    message_id: str
    kind: str
    user_key: str
    at: dt.datetime
    event: str = ""
    group: str | None = None  # external_id to link the user to (group, identify)
    group_field: str = ""
    context_group: str | None = None  # external_id an event is attributed to directly


def ingest_segment(*, user: User, body: object, now: dt.datetime | None = None) -> SegmentResult:
    """Validate a request body as a whole, then store it in one transaction (see the
    module's docstring). Raises PermissionDenied while the endpoint is switched off and
    ValidationFailed (nothing stored) for any malformed message."""
    config = segment_settings()
    if not config.enabled:
        raise PermissionDenied(
            "Segment ingest is switched off; an admin switches it on at /scoring/product-analytics/."
        )
    now = now or timezone.now()
    parsed = parse_segment_body(body, config=config, now=now)
    return _store(user=user, parsed=parsed, now=now)


def parse_segment_body(body: object, *, config: SegmentSettings, now: dt.datetime) -> list[_Parsed]:
    if isinstance(body, dict) and "batch" in body:
        messages = body["batch"]
        if not isinstance(messages, list):
            raise _invalid("'batch' must be a list of messages.", "batch", "must be a list")
        batch_sent_at = None
        if body.get("sentAt") is not None:
            try:
                batch_sent_at = parse_observed_at(body["sentAt"]).astimezone(dt.UTC)
            except (ValueError, OverflowError) as exc:
                raise _invalid("The batch's sentAt is unreadable.", "sentAt", str(exc)) from None
        if body.get("context") is not None and not isinstance(body["context"], dict):
            raise _invalid("The batch's context must be an object.", "context", "must be an object")
    elif isinstance(body, dict):
        messages, batch_sent_at = [body], None
    else:
        raise _invalid(
            'The body must be a Segment message or {"batch": [messages]}.',
            "body",
            "must be a JSON object",
        )
    if not messages:
        raise _invalid("Nothing to ingest: 'batch' is empty.", "batch", "must not be empty")
    if len(messages) > MAX_MESSAGES:
        raise _invalid(
            f"Too many messages: {len(messages)}; send at most {MAX_MESSAGES} per request.",
            "batch",
            f"has {len(messages)} messages; the limit is {MAX_MESSAGES}",
        )
    errors: list[dict[str, Any]] = []
    out: list[_Parsed] = []
    for index, message in enumerate(messages):
        problems: list[tuple[str, str]] = []
        item = _parse_message(index, message, batch_sent_at, config, now, problems)
        if problems:
            errors.extend({"index": index, "field": f, "reason": r} for f, r in problems)
        elif item is not None:
            out.append(item)
    if errors:
        bad = len({e["index"] for e in errors})
        raise ValidationFailed(
            f"{bad} of {len(messages)} message{'s' if len(messages) != 1 else ''} "
            f"{'is' if bad == 1 else 'are'} malformed; nothing was stored.",
            errors=errors,
        )
    return out


def _invalid(message: str, field_name: str, reason: str) -> ValidationFailed:
    return ValidationFailed(message, errors=[{"field": field_name, "reason": reason}])


def _parse_message(
    index: int,
    message: object,
    batch_sent_at: dt.datetime | None,
    config: SegmentSettings,
    now: dt.datetime,
    problems: list[tuple[str, str]],
) -> _Parsed | None:
    if not isinstance(message, dict):
        problems.append(("message", "must be an object"))
        return None
    kind = message.get("type")
    if not isinstance(kind, str) or kind not in MESSAGE_TYPES:
        shown = "is missing" if kind is None else f"{str(kind)[:40]!r} is not a Segment type"
        problems.append(("type", f"{shown}; use one of {', '.join(sorted(MESSAGE_TYPES))}"))
        return None
    for name in OBJECT_FIELDS:
        if message.get(name) is not None and not isinstance(message[name], dict):
            problems.append((name, "must be an object"))
    for name in STRING_FIELDS:
        if message.get(name) is not None and not isinstance(message[name], str):
            problems.append((name, "must be a string"))
    if problems:
        return None
    message_id = _message_id(message, problems)
    user_key = _user_key(message, problems, required=kind != "alias")
    at = _occurred_at(message, batch_sent_at, now, problems)
    event = ""
    raw_event = message.get("event")
    if isinstance(raw_event, str) and (len(raw_event) > MAX_EVENT_LENGTH or "\x00" in raw_event):
        problems.append(("event", f"must be at most {MAX_EVENT_LENGTH} characters, without NUL"))
    elif kind == "track":
        if not isinstance(raw_event, str) or not raw_event.strip():
            problems.append(("event", "is missing: a track call names its event"))
        else:
            event = raw_event.strip()
    group = None
    group_field = ""
    if kind == "group":
        group, group_field = _group_of(message, config, problems)
    elif kind == "identify" and config.identify_trait:
        group = _external_id(_traits(message).get(config.identify_trait))
        group_field = f"traits.{config.identify_trait}"
    context_group = None
    if kind in COUNTED_TYPES:
        context = message.get("context")
        if isinstance(context, dict):
            context_group = _external_id(context.get("groupId"))
    if problems or at is None or kind == "alias":
        return None
    return _Parsed(
        index=index,
        message_id=message_id,
        kind=kind,
        user_key=user_key,
        at=at,
        event=event,
        group=group,
        group_field=group_field,
        context_group=context_group,
    )


def _message_id(message: Mapping[str, Any], problems: list[tuple[str, str]]) -> str:
    raw = message.get("messageId")
    if raw is None or raw == "":
        # Deterministic, so replaying the very same message is still a duplicate.
        canonical = json.dumps(message, sort_keys=True, separators=(",", ":"), default=str)
        return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()[:64]
    if not isinstance(raw, str):
        problems.append(("messageId", "must be a string"))
        return ""
    if len(raw) > MAX_ID_LENGTH or "\x00" in raw:
        problems.append(("messageId", f"must be at most {MAX_ID_LENGTH} characters, without NUL"))
    return raw


def _user_key(
    message: Mapping[str, Any], problems: list[tuple[str, str]], *, required: bool
) -> str:
    """``u:<userId>``, else ``a:<anonymousId>``: one person is one key per day."""
    for name, prefix in (("userId", "u:"), ("anonymousId", "a:")):
        raw = message.get(name)
        if raw is None or raw == "":
            continue
        text = str(raw)
        if len(text) > MAX_USER_LENGTH or "\x00" in text:
            problems.append((name, f"must be at most {MAX_USER_LENGTH} characters, without NUL"))
            return ""
        return prefix + text
    if required:
        problems.append(("userId", "is missing: send userId or anonymousId"))
    return ""


def _occurred_at(
    message: Mapping[str, Any],
    batch_sent_at: dt.datetime | None,
    now: dt.datetime,
    problems: list[tuple[str, str]],
) -> dt.datetime | None:
    def read(name: str, raw: object) -> dt.datetime | None:
        if raw is None:
            return None
        try:
            # In UTC: PostgreSQL refuses offsets beyond ±15:59 that ISO 8601 allows.
            return parse_observed_at(raw).astimezone(dt.UTC)
        except OverflowError:
            problems.append((name, f"{str(raw)[:40]!r} is out of range"))
        except ValueError as exc:
            problems.append((name, str(exc)))
        return None

    timestamp = read("timestamp", message.get("timestamp"))
    original = read("originalTimestamp", message.get("originalTimestamp"))
    received_at = read("receivedAt", message.get("receivedAt"))
    sent_at = read("sentAt", message.get("sentAt")) or batch_sent_at
    timestamp = timestamp or original
    if problems:
        return None
    try:
        if timestamp is None:
            at = received_at or now
        elif received_at is None and sent_at is not None:
            at = now - (sent_at - timestamp)  # the sender's clock skew, as Segment corrects it
        else:
            at = timestamp
        check_not_future(at, now)
    except OverflowError:
        problems.append(("timestamp", "is too far from sentAt to correct the clock skew"))
        return None
    except ValueError as exc:
        problems.append(("timestamp", str(exc)))
        return None
    return at


def _traits(message: Mapping[str, Any]) -> Mapping[str, Any]:
    traits = message.get("traits")
    return traits if isinstance(traits, dict) else {}


def _external_id(raw: object) -> str | None:
    if isinstance(raw, bool) or not isinstance(raw, str | int) or raw == "":
        return None
    return str(raw)


def _group_of(
    message: Mapping[str, Any], config: SegmentSettings, problems: list[tuple[str, str]]
) -> tuple[str | None, str]:
    if config.group_trait:
        from_trait = _external_id(_traits(message).get(config.group_trait))
        if from_trait is not None:
            return from_trait, f"traits.{config.group_trait}"
    group = message.get("groupId") or None
    if group is None:
        problems.append(("groupId", "is missing: a group call names the account"))
    return group, "groupId"


# --- writing ---------------------------------------------------------------------------------


@transaction.atomic
def _store(*, user: User, parsed: list[_Parsed], now: dt.datetime) -> SegmentResult:
    result = SegmentResult(accepted=len(parsed))
    wanted = {p.group for p in parsed if p.group} | {
        p.context_group for p in parsed if p.context_group
    }
    accounts = account_ids_for(user, wanted) if wanted else {}
    links: dict[str, tuple[int, dt.datetime]] = {}
    for p in parsed:
        if p.group is not None:
            account_id = accounts.get(p.group)
            if account_id is None:
                result.skipped.append(
                    _unknown(p.index, p.group_field, p.group, "nothing was linked")
                )
            elif p.user_key not in links or links[p.user_key][1] < p.at:
                links[p.user_key] = (account_id, p.at)
        if p.context_group is not None and p.context_group not in accounts:
            result.skipped.append(
                _unknown(
                    p.index,
                    "context.groupId",
                    p.context_group,
                    "the event counts for its user's account instead",
                )
            )
    unique: dict[str, _Parsed] = {}
    for p in parsed:
        if p.message_id in unique:
            result.duplicates += 1
        else:
            unique[p.message_id] = p
    _link_users(links)
    new, staged = _stage(unique, accounts, now=now)
    result.duplicates += len(unique) - new
    if staged:
        transaction.on_commit(schedule_rollup)
    return result


def _unknown(index: int, field_name: str, external_id: str, consequence: str) -> dict[str, Any]:
    return {
        "index": index,
        "field": field_name,
        "reason": f"no account {external_id[:100]!r} (or outside your scope); {consequence}",
    }


def _stage(
    unique: Mapping[str, _Parsed], accounts: Mapping[str, int], *, now: dt.datetime
) -> tuple[int, int]:
    """Record the message ids and stage the counted messages among the new ones; returns
    (new ids, staged events). Concurrent requests with the same id wait for each other on
    the unique index, so exactly one of them stages the message."""
    counted = [(mid, p) for mid, p in sorted(unique.items()) if p.kind in COUNTED_TYPES]
    if connection.vendor == "postgresql":
        # One statement: ids inserted, the new ones joined to the counted messages.
        with connection.cursor() as cursor:
            cursor.execute(
                _SQL_STAGE,
                [
                    sorted(unique),  # one lock order for concurrent requests
                    now,
                    now,
                    [mid for mid, _ in counted],
                    [p.user_key for _, p in counted],
                    [p.event for _, p in counted],
                    [accounts.get(p.context_group or "") for _, p in counted],
                    [p.at for _, p in counted],
                ],
            )
            new, staged = cursor.fetchone()
            return int(new), int(staged)
    at = connection.ops.adapt_datetimefield_value(now)
    new_ids: set[str] = set()
    with connection.cursor() as cursor:
        for message_id in sorted(unique):
            cursor.execute(
                "INSERT INTO scoring_segmentmessage (message_id, received_at) VALUES (%s, %s)"
                " ON CONFLICT DO NOTHING",
                [message_id, at],
            )
            if cursor.rowcount == 1:
                new_ids.add(message_id)
    events = [
        SegmentEvent(
            user_key=p.user_key,
            event=p.event,
            account_id=accounts.get(p.context_group or ""),
            occurred_at=p.at,
            received_at=now,
        )
        for mid, p in counted
        if mid in new_ids
    ]
    SegmentEvent.objects.bulk_create(events, batch_size=500)
    return len(new_ids), len(events)


_SQL_STAGE = """
WITH new AS (
    INSERT INTO scoring_segmentmessage (message_id, received_at)
    SELECT unnest(%s::text[]), %s ON CONFLICT DO NOTHING RETURNING message_id
), staged AS (
    INSERT INTO scoring_segmentevent (user_key, event, account_id, occurred_at, received_at)
    SELECT m.user_key, m.event, m.account_id, m.occurred_at, %s
    FROM unnest(%s::text[], %s::text[], %s::text[], %s::bigint[], %s::timestamptz[])
        AS m(message_id, user_key, event, account_id, occurred_at)
    JOIN new USING (message_id)
    RETURNING 1
)
SELECT (SELECT count(*) FROM new), (SELECT count(*) FROM staged)
"""


_LINK_TAIL = """
ON CONFLICT (user_key) DO UPDATE SET account_id = EXCLUDED.account_id, linked_at = EXCLUDED.linked_at
WHERE scoring_segmentuser.linked_at < EXCLUDED.linked_at
"""


def _link_users(links: Mapping[str, tuple[int, dt.datetime]]) -> None:
    if not links:
        return
    rows = sorted((key, account_id, at) for key, (account_id, at) in links.items())
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "INSERT INTO scoring_segmentuser (user_key, account_id, linked_at)"
                " SELECT * FROM unnest(%s::text[], %s::bigint[], %s::timestamptz[])" + _LINK_TAIL,
                [[r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]],
            )
            return
        adapt = connection.ops.adapt_datetimefield_value
        cursor.executemany(
            "INSERT INTO scoring_segmentuser (user_key, account_id, linked_at) VALUES (%s, %s, %s)"
            + _LINK_TAIL,
            [(key, account_id, adapt(at)) for key, account_id, at in rows],
        )
