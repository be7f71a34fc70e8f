from django.contrib import admin

from estate.operations.models import Operation, OperationStep, ProviderConfig, RemediationPolicy


class OperationStepInline(admin.TabularInline):
    model = OperationStep
    extra = 0
    readonly_fields = ["created_at", "level", "batch", "message"]


@admin.register(Operation)
class OperationAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "component", "state", "progress_done", "progress_total", "created_at"]
    list_filter = ["state", "kind"]
    readonly_fields = [f.name for f in Operation._meta.fields]
    inlines = [OperationStepInline]


@admin.register(RemediationPolicy)
class RemediationPolicyAdmin(admin.ModelAdmin):
    list_display = ["component", "replace_tainted", "roll_on_new_image", "budget_per_hour", "breaker_open_since"]


@admin.register(ProviderConfig)
class ProviderConfigAdmin(admin.ModelAdmin):
    list_display = ["component", "simulated", "secret_env"]
    list_filter = ["simulated"]
