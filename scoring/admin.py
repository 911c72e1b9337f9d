from __future__ import annotations

from django.contrib import admin

from accounts.audit_admin import AuditedModelAdmin
from accounts.models import AuditEntry
from scoring.models import (
    DirtyAccount,
    Measure,
    MetricDefinition,
    MetricValue,
    Outcome,
    Score,
    Scorecard,
    ScoreOverride,
)


@admin.register(MetricDefinition)
class MetricDefinitionAdmin(AuditedModelAdmin):
    audit_object_type = AuditEntry.ObjectType.METRIC
    list_display = ("key", "name", "unit", "direction")
    search_fields = ("key", "name")


@admin.register(MetricValue)
class MetricValueAdmin(admin.ModelAdmin):
    list_display = ("account", "metric", "value", "observed_at")
    list_filter = ("metric",)
    search_fields = ("account__external_id",)
    raw_id_fields = ("account",)
    date_hierarchy = "observed_at"
    show_full_result_count = False


class MeasureInline(admin.TabularInline):
    model = Measure
    extra = 0


@admin.register(Scorecard)
class ScorecardAdmin(AuditedModelAdmin):
    audit_object_type = AuditEntry.ObjectType.SCORECARD
    list_display = (
        "name",
        "segment",
        "version",
        "status",
        "red_below",
        "green_at",
        "missing_data",
        "published_at",
    )
    list_filter = ("status", "segment")
    inlines = [MeasureInline]


@admin.register(Score)
class ScoreAdmin(admin.ModelAdmin):
    list_display = ("account", "score", "band", "scorecard", "computed_at")
    list_filter = ("band",)
    search_fields = ("account__external_id", "account__name")
    raw_id_fields = ("account",)
    show_full_result_count = False


@admin.register(ScoreOverride)
class ScoreOverrideAdmin(AuditedModelAdmin):
    audit_object_type = AuditEntry.ObjectType.OVERRIDE
    list_display = ("account", "score", "band", "author", "expires_at", "revoked_at")
    raw_id_fields = ("account", "author")


@admin.register(DirtyAccount)
class DirtyAccountAdmin(admin.ModelAdmin):
    list_display = ("account", "marked_at", "reason")
    raw_id_fields = ("account",)


@admin.register(Outcome)
class OutcomeAdmin(admin.ModelAdmin):
    list_display = ("account", "kind", "occurred_at", "arr_change", "recorded_by")
    list_filter = ("kind",)
    search_fields = ("account__external_id", "account__name")
    raw_id_fields = ("account", "recorded_by")
