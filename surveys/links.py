"""The links in a survey email: signed with the site's secret (``django.core.signing``), so
a recipient id cannot be guessed or changed, and each kind of link (answer, unsubscribe)
carries its own salt, so one cannot stand in for the other. Single use is enforced by the
recipient row (``answered_at``), not by the link."""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.urls import reverse

ANSWER_SALT = "surveys.answer"
UNSUBSCRIBE_SALT = "surveys.unsubscribe"


def make_token(recipient_id: int, *, salt: str) -> str:
    return signing.dumps(recipient_id, salt=salt, compress=False)


def read_token(token: str, *, salt: str) -> int | None:
    """The recipient id the token was signed for, or None when it does not check out."""
    try:
        value = signing.loads(token, salt=salt)
    except signing.BadSignature:
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def answer_url(recipient_id: int) -> str:
    token = make_token(recipient_id, salt=ANSWER_SALT)
    return settings.SITE_URL.rstrip("/") + reverse("surveys:answer", args=[token])


def unsubscribe_url(recipient_id: int) -> str:
    token = make_token(recipient_id, salt=UNSUBSCRIBE_SALT)
    return settings.SITE_URL.rstrip("/") + reverse("surveys:unsubscribe", args=[token])
