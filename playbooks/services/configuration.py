"""Playbook configuration changes that are more than a form save."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from accounts.models import User
from accounts.services.audit import Action, ObjectType, record_audit
from accounts.services.audit_forms import form_changes, formset_changes
from chs_site.errors import ApplicationError
from playbooks.models import Playbook


@transaction.atomic
def set_playbook_enabled(*, playbook: Playbook, actor: User, enabled: bool) -> Playbook:
    if not actor.is_admin:
        raise ApplicationError("Only admins can switch playbooks on or off.")
    if enabled and not playbook.actions.exists():
        raise ApplicationError("Add at least one action before enabling this playbook.")
    was = playbook.enabled
    playbook.enabled = enabled
    playbook.save(update_fields=["enabled", "updated_at"])
    record_audit(
        action=Action.ENABLED if enabled else Action.DISABLED,
        object_type=ObjectType.PLAYBOOK,
        obj=playbook,
        actor=actor,
        changes={"enabled": [was, enabled]},
    )
    return playbook


@transaction.atomic
def save_playbook(*, form: Any, formset: Any, actor: User) -> Playbook:
    """Save a validated playbook form and its actions formset (a new playbook is created by
    ``actor``), recording what changed."""
    adding = form.instance.pk is None
    playbook: Playbook = form.save(commit=False)
    if adding:
        playbook.created_by = actor
    playbook.save()
    form.save_m2m()
    formset.instance = playbook
    # Actions run in the order the editor lists them; a new one goes after the others.
    for position, action_form in enumerate(formset.forms):
        action_form.instance.position = position
    formset.save()
    changes = {**form_changes(form, adding=adding), **formset_changes(formset)}
    if adding or changes:
        record_audit(
            action=Action.CREATED if adding else Action.UPDATED,
            object_type=ObjectType.PLAYBOOK,
            obj=playbook,
            actor=actor,
            changes=changes,
        )
    return playbook
