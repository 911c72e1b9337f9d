from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from accounts.audit_admin import AuditedModelAdmin
from accounts.models import (
    Account,
    Activity,
    ApiToken,
    AuditEntry,
    Contact,
    Feedback,
    ImportJob,
    Team,
    User,
    owner_sort_name,
)
from accounts.services.audit import Action, record_audit
from accounts.services.people import sync_owner_sort_names
from accounts.services.signin import unlock_sign_in


@admin.register(User)
class UserAdmin(AuditedModelAdmin, BaseUserAdmin):
    audit_object_type = AuditEntry.ObjectType.USER
    list_display = ("username", "display_name", "role", "team", "is_active", "last_login")
    list_filter = ("role", "team", "is_active")
    fieldsets = (
        *BaseUserAdmin.fieldsets,  # type: ignore[misc]
        ("CHS", {"fields": ("role", "team", "email_notifications")}),
    )
    add_fieldsets = (
        *BaseUserAdmin.add_fieldsets,
        ("CHS", {"fields": ("role", "team")}),
    )
    actions = ("unlock_sign_ins",)

    @admin.action(description="Unlock sign-in (forget failed attempts)")
    def unlock_sign_ins(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        usernames = list(queryset.values_list("username", flat=True))
        dropped = unlock_sign_in(usernames=usernames, by=request.user.get_username())
        self.message_user(
            request, f"Unlocked {len(usernames)} user(s); {dropped} failed sign-in(s) forgotten."
        )

    # The portfolio sorts accounts by their owner's name, stored on each account.
    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change and {"first_name", "last_name", "username"} & set(form.changed_data):
            sync_owner_sort_names(user=obj)

    def delete_model(self, request: HttpRequest, obj: User) -> None:
        with transaction.atomic():
            sync_owner_sort_names(user=obj, deleting=True)
            super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        with transaction.atomic():
            for user in queryset:
                sync_owner_sort_names(user=user, deleting=True)
            super().delete_queryset(request, queryset)

    def user_change_password(
        self, request: HttpRequest, id: str, form_url: str = ""
    ) -> HttpResponse:
        response = super().user_change_password(request, id, form_url)
        if request.method == "POST" and response.status_code == 302:  # saved, redirected
            user = User.objects.get(pk=id)
            record_audit(
                action=Action.PASSWORD_CHANGED,
                object_type=AuditEntry.ObjectType.USER,
                obj=user,
                changes={"password": ["", "changed"]},
            )
        return response


class MemberInline(admin.TabularInline):
    model = User
    fields = ("username", "first_name", "last_name", "role")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(Team)
class TeamAdmin(AuditedModelAdmin):
    audit_object_type = AuditEntry.ObjectType.TEAM
    list_display = ("name", "manager")
    search_fields = ("name",)
    inlines = [MemberInline]


class ContactInline(admin.TabularInline):
    model = Contact
    extra = 0


@admin.register(Account)
class AccountAdmin(AuditedModelAdmin):
    audit_object_type = AuditEntry.ObjectType.ACCOUNT
    list_display = (
        "name",
        "external_id",
        "segment",
        "owner",
        "arr",
        "renewal_date",
        "health_band",
        "health_score",
    )
    list_filter = ("segment", "lifecycle_stage", "health_band", "owner__team")
    search_fields = ("name", "external_id", "domain")
    list_select_related = ("owner",)
    autocomplete_fields = ("owner",)
    readonly_fields = (
        "health_score",
        "health_band",
        "computed_score",
        "computed_band",
        "computed_at",
        "score_change_30d",
        "top_mover",
        "open_task_count",
        "created_at",
        "updated_at",
    )
    inlines = [ContactInline]

    def save_model(self, request: HttpRequest, obj: Account, form: Any, change: bool) -> None:
        obj.owner_sort_name = owner_sort_name(obj.owner)  # the portfolio's owner sort
        super().save_model(request, obj, form, change)


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ("name", "account", "email", "title", "is_primary")
    search_fields = ("name", "email", "account__name")
    raw_id_fields = ("account",)


@admin.register(Feedback)
class FeedbackAdmin(admin.ModelAdmin):
    list_display = ("account", "kind", "score", "sentiment", "author", "occurred_at")
    list_filter = ("kind", "sentiment")
    search_fields = ("account__name", "account__external_id", "text")
    raw_id_fields = ("account", "author")
    date_hierarchy = "occurred_at"


@admin.register(Activity)
class ActivityAdmin(admin.ModelAdmin):
    list_display = ("account", "kind", "summary", "actor", "occurred_at")
    list_filter = ("kind",)
    search_fields = ("account__name", "summary")
    raw_id_fields = ("account", "actor", "feedback")
    date_hierarchy = "occurred_at"


@admin.register(ApiToken)
class ApiTokenAdmin(AuditedModelAdmin):
    """Read-only: keys are created (and shown once) by the command or the API tokens page."""

    audit_object_type = AuditEntry.ObjectType.API_TOKEN

    list_display = ("prefix", "user", "scope", "name", "created_at", "last_used_at", "revoked_at")
    list_filter = ("scope",)
    search_fields = ("prefix", "user__username", "name")
    readonly_fields = (
        "user",
        "prefix",
        "key_hash",
        "scope",
        "created_by",
        "created_at",
        "last_used_at",
    )
    fields = (
        "user",
        "name",
        "scope",
        "prefix",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    )

    def has_add_permission(self, request: object) -> bool:
        return False


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = (
        "original_name",
        "kind",
        "status",
        "rows_total",
        "error_count",
        "created_by",
        "created_at",
    )
    list_filter = ("kind", "status")
    search_fields = ("original_name", "created_by__username")
    readonly_fields = [f.name for f in ImportJob._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only: the log is append-only, nobody adds, edits or deletes an entry here."""

    list_display = ("at", "actor_label", "action", "object_type", "object_label", "source")
    list_filter = ("object_type", "action", "source")
    search_fields = ("actor_label", "object_label", "object_id")
    date_hierarchy = "at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
