"""Playbook configuration changes that are more than a form save."""

from __future__ import annotations

from django.db import transaction

from accounts.models import User
from chs_site.errors import ApplicationError
from playbooks.models import Playbook


@transaction.atomic
def set_playbook_enabled(*, playbook: Playbook, actor: User, enabled: bool) -> Playbook:
    if not actor.is_admin:
        raise ApplicationError("Only admins can switch playbooks on or off.")
    if enabled and not playbook.actions.exists():
        raise ApplicationError("Add at least one action before enabling this playbook.")
    playbook.enabled = enabled
    playbook.save(update_fields=["enabled", "updated_at"])
    return playbook
