"""Surveys in Django's admin: read only. Surveys and campaigns are made through their pages
(which audit them); here an admin can look up what was sent to whom and who unsubscribed."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from surveys.models import Campaign, OptOut, Recipient, Survey


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Survey)
class SurveyAdmin(ReadOnlyAdmin):
    list_display = ("name", "kind", "question", "created_at")


@admin.register(Campaign)
class CampaignAdmin(ReadOnlyAdmin):
    list_display = ("survey", "status", "source", "source_label", "created_at", "finished_at")
    list_filter = ("status", "source")
    list_select_related = ("survey",)


@admin.register(Recipient)
class RecipientAdmin(ReadOnlyAdmin):
    list_display = ("email", "account", "campaign", "status", "sent_at", "opened_at", "answered_at")
    list_filter = ("status",)
    search_fields = ("email",)
    list_select_related = ("account", "campaign__survey")
    raw_id_fields = ("campaign", "account", "contact", "feedback")


@admin.register(OptOut)
class OptOutAdmin(ReadOnlyAdmin):
    list_display = ("email", "at")
    search_fields = ("email",)
    raw_id_fields = ("recipient",)
