from __future__ import annotations

import pytest
from django.core import mail


@pytest.fixture(autouse=True)
def _locmem_email(settings: object) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"  # type: ignore[attr-defined]
    mail.outbox = []
