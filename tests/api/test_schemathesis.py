"""Schemathesis over the whole API schema with every check, as ``schemathesis run
--checks all --mode all`` would: positive and negative data, examples, coverage, fuzzing
and the stateful phase, against a live server (the real HTTP path, body limits included).

Bounded and deterministic for CI: a fixed seed, ``deterministic`` generation and a small
``max-examples`` (about a minute on the 2-core machine)."""

from __future__ import annotations

import time
from typing import Any

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events, from_schema

from accounts.models import Account, User
from accounts.services.tokens import create_api_token
from scoring.models import MetricDefinition

# The live server runs in another thread: its rows must be committed to be seen.
pytestmark = pytest.mark.django_db(transaction=True)

MAX_EXAMPLES = 10
TIME_LIMIT_S = 150  # the run's own bound; well above its usual minute


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
    key = create_api_token(user=admin, scope="write").key
    config = SchemathesisConfig.from_dict(
        {
            "seed": 20261203,
            "base-url": live_server.url,
            "headers": {"Authorization": f"Token {key}"},
            "workers": 1,
            "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "deterministic": True},
            "checks": {"enabled": True},
        }
    )
    schema = schemathesis.openapi.from_url(
        f"{live_server.url}/api/schema/?format=json", config=config
    )
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
        elif isinstance(event, events.NonFatalError | events.FatalError):
            errors.append(f"{getattr(event, 'label', '')}: {event.info.format()[:600]}")
    elapsed = time.monotonic() - started
    print(f"schemathesis: {len(failures)} failures, {len(errors)} errors, {elapsed:.1f} s")
    report = "\n".join([*failures.values(), *errors])
    assert not failures and not errors, report
    assert elapsed < TIME_LIMIT_S
