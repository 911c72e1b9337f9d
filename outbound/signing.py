"""Standard Webhooks signatures (https://www.standardwebhooks.com), through the
``standardwebhooks`` package: each request carries ``webhook-id`` (the event id, the
same on retries), ``webhook-timestamp`` (Unix seconds of this attempt) and
``webhook-signature`` (``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``) made with the
endpoint's secret, ``whsec_`` followed by base64 of 24 random bytes."""

from __future__ import annotations

import base64
import datetime as dt
import secrets

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 24  # 192 bits; the spec asks for 24 to 64


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signed_headers(*, secret: str, msg_id: str, body: str, at: dt.datetime) -> dict[str, str]:
    """The headers of one attempt to send ``body`` (the exact bytes signed are sent)."""
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, at, body),
    }
