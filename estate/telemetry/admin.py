from django.contrib import admin, messages

from estate.telemetry.models import ComponentTelemetry, HealthChange, IngestToken, MetricRule


@admin.register(IngestToken)
class IngestTokenAdmin(admin.ModelAdmin):
    """Adding a token shows its secret once; only its hash is kept."""

    list_display = ["name", "prefix", "created_by", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "created_by", "created_at", "last_used_at"]
    fields = ["name", "prefix", "created_by", "created_at", "last_used_at", "revoked_at"]
    search_fields = ["name", "prefix"]

    def save_model(self, request, obj, form, change):
        if not change:
            raw = obj.set_new_secret()
            obj.created_by = request.user
            super().save_model(request, obj, form, change)
            messages.warning(request, f"Ingest token for {obj.name}: {raw} — copy it now, it is not shown again.")
            return
        super().save_model(request, obj, form, change)


@admin.register(MetricRule)
class MetricRuleAdmin(admin.ModelAdmin):
    list_display = ["metric", "component", "category", "aggregation", "window_seconds", "comparison", "warn",
                    "critical", "enabled"]  # fmt: skip
    list_filter = ["category", "aggregation", "enabled"]
    search_fields = ["metric", "component__name"]
    raw_id_fields = ["component"]


@admin.register(ComponentTelemetry)
class ComponentTelemetryAdmin(admin.ModelAdmin):
    list_display = ["component", "grace_seconds", "heartbeat_state", "last_heartbeat_at", "promql"]
    list_filter = ["heartbeat_state"]
    search_fields = ["component__name"]
    raw_id_fields = ["component"]
    readonly_fields = ["last_heartbeat_at", "heartbeat_state", "promql_value", "evaluated_at"]


@admin.register(HealthChange)
class HealthChangeAdmin(admin.ModelAdmin):
    list_display = ["at", "component", "instance", "from_state", "to_state", "reason"]
    list_filter = ["to_state"]
    list_select_related = ["component", "instance"]
    search_fields = ["component__name", "instance__external_id"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
