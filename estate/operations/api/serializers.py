from __future__ import annotations

from rest_framework import serializers

from estate.core.fields import ModelSerializer, SlugRelatedField
from estate.inventory.models import Component
from estate.operations.choices import COMPONENT_KINDS
from estate.operations.models import Operation, OperationStep, ProviderConfig, RemediationPolicy
from estate.operations.providers.signing import secret_from_env


class OperationStepSerializer(ModelSerializer):
    class Meta:
        model = OperationStep
        fields = ["id", "created_at", "level", "batch", "message"]


class OperationSerializer(ModelSerializer):
    requested_by = SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    percent = serializers.IntegerField(read_only=True)

    class Meta:
        model = Operation
        fields = [
            "id",
            "kind",
            "component",
            "params",
            "requested_by",
            "policy",
            "reason",
            "forced",
            "force_reason",
            "state",
            "progress_done",
            "progress_total",
            "percent",
            "error",
            "result",
            "attempts",
            "created_at",
            "started_at",
            "finished_at",
            "updated_at",
        ]
        read_only_fields = fields


class OperationDetailSerializer(OperationSerializer):
    steps = OperationStepSerializer(many=True, read_only=True)

    class Meta(OperationSerializer.Meta):
        fields = [*OperationSerializer.Meta.fields, "steps"]
        read_only_fields = fields


class OperationCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=COMPONENT_KINDS)
    component = serializers.PrimaryKeyRelatedField(queryset=Component.objects.all())
    params = serializers.DictField(required=False, default=dict)
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)
    forced = serializers.BooleanField(required=False, default=False)
    force_reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)


class RemediationPolicySerializer(ModelSerializer):
    class Meta:
        model = RemediationPolicy
        fields = [
            "id",
            "component",
            "replace_tainted",
            "replace_unhealthy_after_minutes",
            "roll_older_than_max_age",
            "roll_on_new_image",
            "rebuild_every_days",
            "batch_size",
            "budget_per_hour",
            "breaker_threshold",
            "failed_remediations",
            "breaker_open_since",
            "breaker_reason",
            "rebuild_failure_limit",
            "rebuild_failures",
            "rebuild_disabled_reason",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "failed_remediations",
            "breaker_open_since",
            "breaker_reason",
            "rebuild_failures",
            "created_at",
            "updated_at",
        ]


class ProviderConfigSerializer(ModelSerializer):
    """The secret itself never passes here: only the name of the environment variable that holds it."""

    secret_configured = serializers.SerializerMethodField()

    class Meta:
        model = ProviderConfig
        fields = [
            "id",
            "component",
            "simulated",
            "settings",
            "secret_env",
            "secret_configured",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["secret_configured", "created_at", "updated_at"]

    def get_secret_configured(self, obj) -> bool:
        return bool(secret_from_env(obj))
