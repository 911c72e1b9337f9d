"""Connector fixtures: the vendor fakes on a local HTTP server, a connector of each kind
pointed at them, and the waits between retries recorded instead of slept."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from accounts.models import User
from connectors.mapping import effective_mapping
from connectors.models import Connector
from connectors.registry import connector_type
from connectors.services.configuration import create_connector
from tests.connectors.fakes import HubSpotFake, StripeFake

HUBSPOT_TOKEN = "pat-na1-11111111-2222-3333-4444-555555556789"
STRIPE_KEY = "rk_test_51Hxyz0000000000000000000000004242"


@pytest.fixture
def hubspot_fake(httpserver: HTTPServer) -> Iterator[HubSpotFake]:
    yield HubSpotFake(server=httpserver, token=HUBSPOT_TOKEN).install()


@pytest.fixture
def stripe_fake(httpserver: HTTPServer) -> Iterator[StripeFake]:
    yield StripeFake(server=httpserver, token=STRIPE_KEY).install()


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The delays the backoff asked for (nothing actually sleeps)."""
    asked: list[float] = []
    monkeypatch.setattr("connectors.ratelimit.wait", asked.append)
    return asked


def make_connector(admin: User, kind: str, url: str, credential: str, **mapping: Any) -> Connector:
    connector = create_connector(
        actor=admin,
        kind=kind,
        name=f"{kind} test",
        credential=credential,
        mapping={**effective_mapping(connector_type(kind), {}), **mapping},
        interval_minutes=60,
        enabled=True,
        write_back=kind == "hubspot",
    )
    connector.api_base = url
    connector.save(update_fields=["api_base"])
    return connector


@pytest.fixture
def hubspot_connector(admin: User, hubspot_fake: HubSpotFake, waits: list[float]) -> Connector:
    return make_connector(admin, "hubspot", hubspot_fake.url, HUBSPOT_TOKEN)


@pytest.fixture
def stripe_connector(admin: User, stripe_fake: StripeFake, waits: list[float]) -> Connector:
    return make_connector(admin, "stripe", stripe_fake.url, STRIPE_KEY)
