from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

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


class ProviderConfigForm(forms.ModelForm):
    """The model names the key inside settings that is wrong ("settings.url"); the form has one settings field."""

    class Meta:
        model = ProviderConfig
        fields = ["component", "simulated", "settings", "secret_env"]

    def add_error(self, field, error):
        if field is None and hasattr(error, "error_dict"):
            merged: dict[str, list] = {}
            for key, errors in error.error_dict.items():
                name = key.split(".", 1)[0]
                merged.setdefault(name, []).extend(
                    ValidationError(f"{key}: {message}") if name != key else ValidationError(message)
                    for item in errors
                    for message in item.messages
                )
            error = ValidationError(merged)
        super().add_error(field, error)


@admin.register(ProviderConfig)
class ProviderConfigAdmin(admin.ModelAdmin):
    form = ProviderConfigForm
    list_display = ["component", "simulated", "secret_env"]
    list_filter = ["simulated"]
