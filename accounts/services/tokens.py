"""API tokens: keys for machines, stored as a SHA-256 only, shown once, revocable."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from accounts.models import ApiToken, User, hash_api_key
from accounts.services.audit import Action, ObjectType, record_audit
from chs_site.errors import ApplicationError

API_KEY_PREFIX = "chs_"
# Writing last_used_at on every request would make every API call a write; once a minute
# is precise enough for "is this key still in use?".
TOKEN_TOUCH_INTERVAL = dt.timedelta(seconds=60)


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    key: str  # shown once; only its hash is stored


@transaction.atomic
def create_api_token(
    *,
    user: User,
    scope: str = ApiToken.Scope.INGEST,
    name: str = "",
    created_by: User | None = None,
) -> IssuedToken:
    if scope not in ApiToken.Scope.values:
        raise ApplicationError(
            f"Unknown scope {scope!r}; choose one of {', '.join(ApiToken.Scope.values)}."
        )
    if not user.is_active:
        raise ApplicationError(f"User {user.username!r} is deactivated; activate them first.")
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        scope=scope,
        name=name.strip()[:100],
        prefix=key[:12],
        key_hash=hash_api_key(key),
        created_by=created_by,
    )
    record_audit(
        action=Action.CREATED,
        object_type=ObjectType.API_TOKEN,
        obj=token,
        actor=created_by,
        changes={
            "user": [None, user.username],
            "scope": [None, token.scope],
            "name": [None, token.name],
            "prefix": [None, token.prefix],
        },
    )
    return IssuedToken(token=token, key=key)


@transaction.atomic
def revoke_api_token(
    *, token: ApiToken, actor: User | None = None, now: dt.datetime | None = None
) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = now or timezone.now()
        token.save(update_fields=["revoked_at"])
        record_audit(
            action=Action.REVOKED,
            object_type=ObjectType.API_TOKEN,
            obj=token,
            actor=actor,
            changes={"revoked_at": [None, token.revoked_at]},
        )
    return token


def touch_api_token(*, token: ApiToken, now: dt.datetime) -> None:
    if token.last_used_at is not None and now - token.last_used_at < TOKEN_TOUCH_INTERVAL:
        return
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    token.last_used_at = now
