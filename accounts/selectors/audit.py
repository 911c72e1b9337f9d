"""Reading the audit log: admins only, newest first, filtered by actor, object type,
action and a date range (the page and the API share the one filter)."""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.db.models import Q, QuerySet

from accounts.models import AuditEntry, User
from chs_site.api_fields import StrictFilterSet


def audit_entries_for(user: User) -> QuerySet[AuditEntry]:
    """Every entry for an admin; nothing for anyone else (their pages 404 first)."""
    if not user.is_admin:
        return AuditEntry.objects.none()
    return AuditEntry.objects.order_by("-at", "-id")


class AuditFilter(StrictFilterSet):
    actor = django_filters.CharFilter(
        method="filter_actor",
        max_length=150,
        label="Actor",
        help_text="A username, or the name of a command or task (part of it is enough).",
    )
    object_type = django_filters.ChoiceFilter(
        choices=AuditEntry.ObjectType.choices, label="Object type", empty_label="Any"
    )
    action = django_filters.ChoiceFilter(
        choices=AuditEntry.Action.choices, label="Action", empty_label="Any"
    )
    since = django_filters.DateFilter(
        field_name="at",
        lookup_expr="date__gte",
        label="From",
        help_text="On or after this day (YYYY-MM-DD).",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    until = django_filters.DateFilter(
        field_name="at",
        lookup_expr="date__lte",
        label="To",
        help_text="On or before this day (YYYY-MM-DD).",
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    class Meta:
        model = AuditEntry
        fields: list[str] = []

    def filter_actor(self, queryset: QuerySet[AuditEntry], name: str, value: Any) -> Any:
        value = str(value).strip()
        if not value:
            return queryset
        return queryset.filter(Q(actor__username__iexact=value) | Q(actor_label__icontains=value))
