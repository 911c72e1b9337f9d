"""API tokens by key."""

from __future__ import annotations

from accounts.models import ApiToken, hash_api_key


def api_token_for_key(key: str) -> ApiToken | None:
    """The token whose key this is (revoked ones too, so the caller can say so)."""
    return ApiToken.objects.select_related("user").filter(key_hash=hash_api_key(key)).first()
