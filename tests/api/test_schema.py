"""The OpenAPI schema: served, offline docs, and a bounded schemathesis run (no 5xx, every
response as documented)."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from django.contrib.staticfiles import finders
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.models import Account, User
from accounts.services.tokens import create_api_token
from scoring.models import MetricDefinition

pytestmark = pytest.mark.django_db


def test_schema_is_served_and_documents_every_endpoint(client: Client) -> None:
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()
    paths = set(schema["paths"])
    assert {
        "/api/v1/accounts/",
        "/api/v1/accounts/{external_id}/",
        "/api/v1/accounts/{external_id}/scores/",
        "/api/v1/metrics/",
        "/api/v1/metric-definitions/",
        "/api/v1/scorecards/",
        "/api/v1/scorecards/{id}/",
        "/api/v1/scorecards/{id}/publish/",
        "/api/v1/feedback/",
        "/api/v1/outcomes/",
    } <= paths
    metrics = schema["paths"]["/api/v1/metrics/"]["post"]
    assert set(metrics["responses"]) >= {"202", "400", "401", "403", "429"}
    assert metrics["requestBody"]["content"]["application/json"]["examples"]
    assert "tokenAuth" in schema["components"]["securitySchemes"]


def test_swagger_ui_is_served_without_the_internet(client: Client) -> None:
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert "cdn." not in html and "https://" not in html.replace("https://swagger.io", "")
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert finders.find("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_api_never_fails_and_answers_as_documented(
    admin: User, csm: User, account: Account, other_account: Account
) -> None:
    """Hypothesis-generated requests against every fast operation (publishing, which
    recomputes every account, is left out), a few examples each, as an admin with a write
    key: no 5xx, and every status code, content type and body as the schema says."""
    MetricDefinition.objects.create(key="logins", name="Logins")
    # As Django's test client does: a finished request must not close the test's
    # connection (that would end its transaction on PostgreSQL).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        _fuzz(admin)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _fuzz(admin: User) -> None:
    key = create_api_token(user=admin, scope="write").key
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", WSGIHandler())
    operations = [
        result.ok()  # type: ignore[union-attr]
        for result in schema.exclude(path_regex="publish").get_all_operations()
    ]
    assert len(operations) >= 12

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def check(case: Any) -> None:
            case.call_and_validate(headers={"Authorization": f"Token {key}"}, checks=CHECKS)

        check()
