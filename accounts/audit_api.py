"""The audit log through the REST API (mounted under /api/v1/ by chs_site/api_urls.py):
read-only, for admins (a session or a key of an admin with the read or write scope); for
anyone else the endpoint does not exist (404)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.urls import URLPattern, URLResolver, path
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import generics, permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.authentication import AdminsOnly, api_user
from accounts.models import AuditEntry
from accounts.selectors.audit import AuditFilter, audit_entries_for
from chs_site.api_docs import error_responses

AUDIT_EXAMPLE = {
    "id": 812,
    "at": "2026-11-20T09:14:03.120000Z",
    "actor": "admin",
    "actor_label": "admin",
    "api_key": None,
    "action": "enabled",
    "object_type": "playbook",
    "object_id": "4",
    "object_label": "Red accounts",
    "changes": {"enabled": [False, True]},
    "source": "web",
    "ip_address": "203.0.113.7",
    "user_agent": "Mozilla/5.0",
}


class AuditEntrySerializer(serializers.ModelSerializer):
    actor: serializers.SlugRelatedField = serializers.SlugRelatedField(
        slug_field="username",
        read_only=True,
        allow_null=True,
        help_text="The user who made the change (null: a command, a task or the system).",
    )
    api_key = serializers.SerializerMethodField(
        help_text="The prefix of the API key the change was made with, if any."
    )
    changes = serializers.DictField(
        child=serializers.ListField(child=serializers.JSONField(), min_length=2, max_length=2),
        read_only=True,
        help_text="{field: [old, new]}; secret fields show a mask, never the value.",
    )

    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "at",
            "actor",
            "actor_label",
            "api_key",
            "action",
            "object_type",
            "object_id",
            "object_label",
            "changes",
            "source",
            "ip_address",
            "user_agent",
        ]
        read_only_fields = fields

    def get_api_key(self, entry: AuditEntry) -> str | None:
        return f"{entry.api_token.prefix}…" if entry.api_token is not None else None


class AuditLogList(generics.ListAPIView):
    """Changes to configuration and access, newest first."""

    serializer_class = AuditEntrySerializer
    filterset_class = AuditFilter
    permission_classes = [
        permissions.IsAuthenticated,
        AdminsOnly,
        *generics.ListAPIView.permission_classes,
    ]

    def get_queryset(self) -> QuerySet[AuditEntry]:
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return AuditEntry.objects.none()
        return audit_entries_for(api_user(self.request)).select_related("actor", "api_token")

    @extend_schema(
        summary="List audit log entries (admins)",
        responses={200: AuditEntrySerializer(many=True), **error_responses(400, 404)},
        examples=[
            OpenApiExample("entry", value=AUDIT_EXAMPLE, response_only=True, status_codes=["200"])
        ],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


urlpatterns: list[URLPattern | URLResolver] = [
    path("audit-log/", AuditLogList.as_view(), name="api-audit-log"),
]
