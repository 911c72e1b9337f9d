"""Helpers for API tests: a client that sends an API key."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client

from accounts.models import ApiToken, User
from accounts.services.tokens import create_api_token


class ApiClient:
    """Django's test client with ``Authorization: Token <key>`` and JSON bodies."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.client = Client()

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.key}"}

    def get(self, url: str, params: dict[str, Any] | None = None) -> Any:
        return self.client.get(url, params or {}, headers=self._headers())

    def post(
        self,
        url: str,
        body: Any = None,
        *,
        raw: str | None = None,
        content_type: str = "application/json",
    ) -> Any:
        data = raw if raw is not None else json.dumps(body)
        return self.client.post(url, data, content_type=content_type, headers=self._headers())

    def patch(self, url: str, body: Any) -> Any:
        return self.client.patch(
            url, json.dumps(body), content_type="application/json", headers=self._headers()
        )


def api_for(user: User, scope: str = ApiToken.Scope.WRITE) -> ApiClient:
    return ApiClient(create_api_token(user=user, scope=scope).key)
