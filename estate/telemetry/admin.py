from django import forms
from django.contrib import admin, messages

from estate.telemetry.models import ComponentTelemetry, HealthChange, IngestToken, LogRule, MetricRule


class IngestTokenForm(forms.ModelForm):
    class Meta:
        model = IngestToken
        fields = ["name", "whole_estate", "teams", "systems", "revoked_at"]

    def clean(self):
        data = super().clean()
        # The model's rule, reported on the form: the scope is the whole estate or some teams and systems.
        IngestToken.check_scope(
            whole_estate=data.get("whole_estate", False), teams=data.get("teams"), systems=data.get("systems")
        )
        return data


@admin.register(IngestToken)
class IngestTokenAdmin(admin.ModelAdmin):
    """Adding a token shows its secret once; only its hash is kept. Its scope must be said."""

    form = IngestTokenForm
    list_display = ["name", "prefix", "whole_estate", "created_by", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["whole_estate"]
    readonly_fields = ["prefix", "created_by", "created_at", "last_used_at"]
    fields = ["name", "whole_estate", "teams", "systems", "prefix", "created_by", "created_at", "last_used_at",
              "revoked_at"]  # fmt: skip
    filter_horizontal = ["teams", "systems"]
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


@admin.register(LogRule)
class LogRuleAdmin(admin.ModelAdmin):
    """Log lines that taint: the model's clean() refuses patterns that could backtrack for long."""

    list_display = ["name", "kind", "pattern", "enabled"]
    list_filter = ["kind", "enabled"]
    search_fields = ["name", "pattern"]


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
