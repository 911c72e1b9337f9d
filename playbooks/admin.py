from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.audit_admin import AuditedModelAdmin
from accounts.models import AuditEntry
from playbooks.models import (
    Milestone,
    Notification,
    Objective,
    Playbook,
    PlaybookAction,
    PlaybookRun,
    SuccessPlan,
    SuccessPlanTemplate,
    Task,
    TaskEvent,
    TaskStatus,
    TemplateMilestone,
    TemplateObjective,
)
from playbooks.services.tasks import adjust_open_task_counts


class PlaybookActionInline(admin.StackedInline):
    model = PlaybookAction
    extra = 0
    raw_id_fields = ("assignee_user",)


@admin.register(Playbook)
class PlaybookAdmin(AuditedModelAdmin):
    audit_object_type = AuditEntry.ObjectType.PLAYBOOK
    list_display = ("name", "trigger_type", "enabled", "cooldown_days", "updated_at")
    list_filter = ("enabled", "trigger_type")
    search_fields = ("name",)
    filter_horizontal = ("teams",)
    inlines = [PlaybookActionInline]


@admin.register(PlaybookRun)
class PlaybookRunAdmin(admin.ModelAdmin):
    list_display = ("playbook", "account", "fired_at", "source", "reason", "tasks_created")
    list_filter = ("playbook", "source")
    raw_id_fields = ("account",)
    date_hierarchy = "fired_at"


class TaskEventInline(admin.TabularInline):
    model = TaskEvent
    extra = 0
    readonly_fields = ("kind", "actor", "occurred_at", "from_value", "to_value", "note")
    can_delete = False


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ("title", "account", "assignee", "status", "priority", "due_date", "playbook")
    list_filter = ("status", "priority", "playbook")
    search_fields = ("title", "account__name", "account__external_id")
    raw_id_fields = ("account", "assignee", "created_by", "run")
    # Status changes go through the services (transitions table, timeline, history).
    readonly_fields = ("status", "closed_at", "outcome_note", "snoozed_until", "snooze_reason")
    inlines = [TaskEventInline]

    # Adding, moving or deleting a task here changes accounts' open-task counts (the
    # portfolio's column), which the services keep; these do what they would.
    def save_model(self, request: HttpRequest, obj: Task, form: Any, change: bool) -> None:
        with transaction.atomic():
            before = Task.objects.filter(pk=obj.pk).values_list("account_id", "status").first()
            super().save_model(request, obj, form, change)
            changes = [(obj.account_id, int(obj.status == TaskStatus.OPEN))]
            if before is not None:
                changes.append((before[0], -int(before[1] == TaskStatus.OPEN)))
            adjust_open_task_counts(changes=changes)

    def delete_model(self, request: HttpRequest, obj: Task) -> None:
        with transaction.atomic():
            super().delete_model(request, obj)
            adjust_open_task_counts(changes=[(obj.account_id, -int(obj.status == TaskStatus.OPEN))])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        with transaction.atomic():
            gone = list(
                queryset.filter(status=TaskStatus.OPEN).values_list("account_id", flat=True)
            )
            super().delete_queryset(request, queryset)
            adjust_open_task_counts(changes=[(account_id, -1) for account_id in gone])


class TemplateObjectiveInline(admin.TabularInline):
    model = TemplateObjective
    extra = 1


class TemplateMilestoneInline(admin.TabularInline):
    model = TemplateMilestone
    extra = 1


@admin.register(SuccessPlanTemplate)
class SuccessPlanTemplateAdmin(admin.ModelAdmin):
    list_display = ("name", "created_at")
    inlines = [TemplateObjectiveInline, TemplateMilestoneInline]


class ObjectiveInline(admin.TabularInline):
    model = Objective
    extra = 0


class MilestoneInline(admin.TabularInline):
    model = Milestone
    extra = 0


@admin.register(SuccessPlan)
class SuccessPlanAdmin(admin.ModelAdmin):
    list_display = ("title", "account", "status", "created_at")
    list_filter = ("status", "template")
    raw_id_fields = ("account", "created_by")
    inlines = [ObjectiveInline, MilestoneInline]


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = (
        "title",
        "recipient",
        "created_at",
        "read_at",
        "email_status",
        "slack_status",
        "attempts",
    )
    list_filter = ("email_status", "slack_status")
    raw_id_fields = ("recipient", "account", "task")
