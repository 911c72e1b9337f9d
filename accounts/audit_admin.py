"""``AuditedModelAdmin``: Django admin pages whose saves and deletes write audit entries,
for the models the admin site edits that are configuration or access (users, teams and
their webhooks, metric definitions, scorecards, playbooks, API keys)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.services.audit import Action, record_audit
from accounts.services.audit_forms import form_changes, formset_changes


class AuditedModelAdmin(admin.ModelAdmin):
    """Writes one entry per save (the form's and its inlines' changes together) and one per
    deleted object. ``audit_object_type`` names the kind of object in the log."""

    audit_object_type: str = ""

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # Called after save_model with the same form: the object and its inlines are saved
        # once this returns, so the entry covers both.
        super().save_related(request, form, formsets, change)
        changes = form_changes(form, adding=not change)
        for formset in formsets:
            changes.update(formset_changes(formset))
        if change and not changes:
            return
        record_audit(
            action=Action.UPDATED if change else Action.CREATED,
            object_type=self.audit_object_type,
            obj=form.instance,
            changes=changes,
        )

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        with transaction.atomic():
            record_audit(action=Action.DELETED, object_type=self.audit_object_type, obj=obj)
            super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        with transaction.atomic():
            for obj in queryset:
                record_audit(action=Action.DELETED, object_type=self.audit_object_type, obj=obj)
            super().delete_queryset(request, queryset)
