"""Schemathesis over the whole API schema with every check, as ``schemathesis run
--checks all --mode all`` would: positive and negative data, examples, coverage, fuzzing
and the stateful phase, against a live server (the real HTTP path, body limits included).

Bounded and deterministic for CI: a fixed seed, ``deterministic`` generation and a small
``max-examples`` (75-90 s on the shared 2-core machine). Bounded by the number of examples,
not by a clock, so a slow day cannot change what is tested."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
import schemathesis
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events, from_schema

from accounts.models import Account, User
from accounts.services.tokens import create_api_token
from scoring.models import MetricDefinition, SegmentSettings

# The live server runs in another thread: its rows must be committed to be seen.
# Sequences reset too: the ids the server hands out (and the stateful phase follows) are the
# same on every run, wherever the test falls in the suite, so a run explores what the last
# one did.
pytestmark = pytest.mark.django_db(transaction=True, reset_sequences=True)

MAX_EXAMPLES = 10

# Rules between fields, or against the clock, that OpenAPI 3.0 cannot state; the server
# answers 400 naming the field. A generated body that breaks one is left out (and a 400 for
# one is not counted), so the checks judge everything else. Keep this list to such rules.
_FAR_PAST = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)


def _in_future(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when > dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)


def _blank(value: Any) -> bool:
    return isinstance(value, str) and not value.strip()


def _not_a_url(value: Any) -> bool:
    """Django's URL rule (host name labels and characters), stricter than ``format: uri``."""
    try:
        URLValidator(schemes=["http", "https"])(value)
    except ValidationError:
        return True
    return False


def _segment_message_breaks_a_rule(message: dict[str, Any], batch_sent_at: Any) -> bool:
    kind = message.get("type")
    if kind != "alias" and not (message.get("userId") or message.get("anonymousId")):
        return True  # every call but alias names its user
    if kind == "track" and _blank(message.get("event") or ""):
        return True  # a track names its event
    if kind == "group" and not message.get("groupId"):
        return True  # a group names the account
    times = ("timestamp", "originalTimestamp", "sentAt", "receivedAt")
    if any(_beyond_utc(message.get(name)) for name in times):
        return True  # read in UTC: a year-1 time with a positive offset is not a moment
    stamp = message.get("timestamp") or message.get("originalTimestamp")
    sent = message.get("sentAt") or batch_sent_at
    if message.get("receivedAt") is not None or sent is None or stamp is None:
        return _in_future(stamp or message.get("receivedAt"))  # at most 5 minutes ahead
    try:  # the sender's clock skew corrected: now - (sentAt - timestamp)
        when = dt.datetime.now(dt.UTC) - (_moment(sent) - _moment(stamp))
    except (OverflowError, ValueError):
        return True
    except (AttributeError, TypeError):
        return False  # not a date-time string: a schema violation the server rejects
    return when > dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)


def _beyond_utc(value: Any) -> bool:
    try:
        _moment(value).astimezone(dt.UTC)
    except OverflowError:
        return True
    except (AttributeError, TypeError, ValueError):
        return False
    return False


def _moment(value: str) -> dt.datetime:
    when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _breaks_a_documented_rule(path: str, method: str, body: dict[str, Any]) -> bool:
    if path.endswith("/publish/") and method == "POST" and body.get("confirm") is not True:
        return True  # publishing asks for a confirmation: {"confirm": true}
    if path.startswith(("/api/v1/hooks/", "/api/v1/webhooks/")) and method in ("POST", "PATCH"):
        for field in ("target_url", "url"):
            if field in body and _not_a_url(body[field]):
                return True  # a webhook's address must be a URL Django accepts
    if path.startswith("/api/v1/integrations/segment/"):
        batch = body.get("batch")
        messages = batch if isinstance(batch, list) else []
        if _beyond_utc(body.get("sentAt")):
            return True
        return any(
            isinstance(m, dict) and _segment_message_breaks_a_rule(m, body.get("sentAt"))
            for m in messages
        )
    if path.startswith("/api/v1/scorecards/") and "measures" in body:
        measures = body["measures"] if isinstance(body["measures"], list) else []
        if any(isinstance(m, dict) and m.get("bad") == m.get("good") for m in measures):
            return True  # bad and good must differ
    if path.startswith("/api/v1/scorecards/"):
        red, green = body.get("red_below"), body.get("green_at")
        if method == "PATCH" and (red is None) != (green is None):
            return True  # one threshold alone is judged against the stored other one
        if method == "POST":
            red = 40 if red is None else red  # the defaults
            green = 70 if green is None else green
        if isinstance(red, int | float) and isinstance(green, int | float) and red >= green:
            return True  # green_at must be above red_below
    if path == "/api/v1/feedback/":
        kind, score, survey = body.get("kind"), body.get("score"), body.get("survey") or ""
        ranges = {"nps": range(0, 11), "csat": range(1, 6)}
        if survey and kind not in ("call", "meeting"):
            return True  # only a call or a meeting carries a survey answer
        scale = kind if kind in ranges else survey
        if scale in ranges and score not in ranges[scale]:
            return True  # an NPS or CSAT answer (alone or in a call) needs its score
        if scale not in ranges and score is not None:
            return True  # other kinds carry no score
    if path in ("/api/v1/feedback/", "/api/v1/outcomes/") and _in_future(body.get("occurred_at")):
        return True  # what happened cannot be in the future
    if path == "/api/v1/metrics/":
        values = body.get("values")
        items = values if isinstance(values, list) else []
        if any(isinstance(i, dict) and _in_future(i.get("observed_at")) for i in items):
            return True  # at most 5 minutes ahead
    if path.startswith("/api/v1/tasks/"):
        if _blank(body.get("title")):
            return True  # a title is required (blank after trimming)
        status = body.get("status")
        if status == "done" and _blank(body.get("outcome_note", "")):
            return True  # completing a task needs an outcome note
        if status == "snoozed" and (
            _blank(body.get("snooze_reason", "")) or not _in_future(body.get("snoozed_until"))
        ):
            return True  # snoozing needs a date after today and a reason
    return False


def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """The examples and coverage phases send bodies ``filter_body`` never sees: a 400 for
    one that breaks a rule above is the right answer, not a failure."""
    body = case.body
    if case.operation.path.endswith("/publish/") and not isinstance(body, dict):
        body = {}  # no body at all: no confirmation either
    if not isinstance(body, dict) or "rejected" not in failure.title:
        return True
    return not _breaks_a_documented_rule(case.operation.path, case.method.upper(), body)


def filter_body(context: Any, body: Any) -> bool:
    if not isinstance(body, dict):
        return True
    operation = context.operation
    return not _breaks_a_documented_rule(operation.path, operation.method.upper(), body)


def _describe(recorder: Any, case_id: str, check: Any) -> str:
    interaction = recorder.interactions.get(case_id)
    request = interaction.request if interaction else None
    response = interaction.response if interaction else None
    body = getattr(request, "body", None) if request else None
    return (
        f"{recorder.label} [{check.name}] {check.failure_info.failure.title}\n"
        f"  {getattr(request, 'method', '')} {getattr(request, 'uri', '')}\n"
        f"  request body: {(body or b'')[:400]!r}\n"
        f"  -> {getattr(response, 'status_code', '')} "
        f"{(getattr(response, 'content', None) or b'')[:400]!r}\n"
        f"  {check.failure_info.failure.message[:400]}"
    )


def test_schemathesis_over_the_whole_schema_finds_nothing(
    admin: User, account: Account, other_account: Account, live_server: Any
) -> None:
    MetricDefinition.objects.create(key="logins", name="Logins")
    SegmentSettings.objects.create(pk=1, enabled=True)
    key = create_api_token(user=admin, scope="write").key
    config = SchemathesisConfig.from_dict(
        {
            "seed": 20261203,
            "base-url": live_server.url,
            "headers": {"Authorization": f"Token {key}"},
            "workers": 1,
            # NUL is left out of generated strings: PostgreSQL cannot store it in text, and
            # every string field refuses it with a 400 (DRF's null-character validator).
            "generation": {
                "mode": "all",
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                "allow-x00": False,
            },
            "checks": {"enabled": True},
        }
    )
    schema = schemathesis.openapi.from_url(
        f"{live_server.url}/api/schema/?format=json", config=config
    )
    schema.hook(filter_body)
    schema.hook(filter_failure)
    started = time.monotonic()
    failures: dict[tuple[str, str, str], str] = {}
    errors: list[str] = []
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            for case_id, checks in recorder.checks.items():
                for check in checks:
                    if check.failure_info is not None:
                        key_ = (recorder.label, check.name, check.failure_info.failure.title)
                        failures.setdefault(key_, _describe(recorder, case_id, check))
        elif isinstance(event, events.NonFatalError):
            errors.append(f"{event.label}: {event.info.format()[:600]}")
        elif isinstance(event, events.FatalError):
            errors.append(f"fatal: {event.exception!r}"[:600])
    elapsed = time.monotonic() - started
    print(f"schemathesis: {len(failures)} failures, {len(errors)} errors, {elapsed:.1f} s")
    report = "\n".join([*failures.values(), *errors])
    assert not failures and not errors, report
