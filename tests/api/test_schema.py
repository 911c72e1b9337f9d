"""The OpenAPI schema: served, offline docs, and a bounded schemathesis run (no 5xx, every
response as documented)."""

from __future__ import annotations

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

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


# The schemathesis run over the whole schema is tests/api/test_schemathesis.py.


def test_schema_documents_the_segment_endpoint(client: Client) -> None:
    schema = client.get("/api/schema/?format=json").json()
    for path in ("/api/v1/integrations/segment/", "/api/v1/integrations/segment/v1/batch"):
        segment = schema["paths"][path]["post"]
        assert set(segment["responses"]) >= {"200", "400", "401", "403", "429"}
        examples = segment["requestBody"]["content"]["application/json"]["examples"]
        assert {e["value"].get("type") or "batch" for e in examples.values()} == {"track", "batch"}
        # Segment sends its write key as HTTP Basic; the usual Token works too.
        assert {name for s in segment["security"] for name in s} == {"tokenAuth", "keyBasicAuth"}
    assert schema["components"]["securitySchemes"]["keyBasicAuth"]["scheme"] == "basic"
