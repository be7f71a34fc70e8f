from __future__ import annotations

from rest_framework import serializers

from estate.core.fields import ModelSerializer, SlugRelatedField
from estate.telemetry.choices import ItemType
from estate.telemetry.models import ComponentTelemetry, HealthChange, LogRule, MetricRule, Sample


class IngestItemSerializer(serializers.Serializer):
    """One telemetry item (documentation of the ingest body; validation runs in bulk in ingest.py)."""

    type = serializers.ChoiceField(choices=ItemType.choices)
    component = serializers.CharField(help_text='The component\'s id, or "environment-slug/component-slug".')
    instance = serializers.CharField(required=False, help_text="The instance's external id.")
    timestamp = serializers.DateTimeField(required=False, help_text="ISO 8601 with a zone, or epoch seconds.")
    name = serializers.CharField(required=False, help_text="Samples: the metric name.")
    value = serializers.FloatField(required=False, help_text="Samples: a finite number.")
    unit = serializers.CharField(required=False)
    kind = serializers.CharField(
        required=False,
        help_text="Events: ssh_session, config_change, package_install and file_change taint an immutable instance.",
    )
    message = serializers.CharField(required=False)


class IngestBatchSerializer(serializers.Serializer):
    items = IngestItemSerializer(many=True)


class IngestResultSerializer(serializers.Serializer):
    stored = serializers.DictField(child=serializers.IntegerField())
    duplicates = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="Items sent twice in the batch (same time, subject and name): stored once.",
    )
    tainted_instances = serializers.ListField(child=serializers.CharField())


class MetricRuleSerializer(ModelSerializer):
    class Meta:
        model = MetricRule
        fields = ["id", "component", "category", "metric", "aggregation", "window_seconds", "comparison", "warn",
                  "critical", "unit", "enabled"]  # fmt: skip
        validators: list = []  # the model's clean() and constraints decide, through validated_save


class LogRuleSerializer(ModelSerializer):
    class Meta:
        model = LogRule
        fields = ["id", "name", "pattern", "kind", "enabled"]
        validators: list = []  # the model's clean() (bounded, no nested repetition) decides, through validated_save


class HealthChangeSerializer(ModelSerializer):
    instance = SlugRelatedField(slug_field="external_id", read_only=True, allow_null=True)
    # Plain strings: the Health enum is already in the schema under the component's name for it.
    from_state = serializers.CharField(read_only=True)
    to_state = serializers.CharField(read_only=True)

    class Meta:
        model = HealthChange
        fields = ["id", "component", "instance", "at", "from_state", "to_state", "reason"]


class SampleSerializer(ModelSerializer):
    """One metric value as stored: its component, instance (or null), metric name, value, unit and time."""

    instance = serializers.PrimaryKeyRelatedField(
        read_only=True, allow_null=True, help_text="The instance's id; it stays after the instance is gone."
    )

    class Meta:
        model = Sample
        fields = ["id", "component", "instance", "name", "value", "unit", "ts"]
        read_only_fields = fields


class ComponentTelemetrySerializer(ModelSerializer):
    class Meta:
        model = ComponentTelemetry
        fields = ["component", "grace_seconds", "promql", "last_heartbeat_at", "heartbeat_state", "promql_value",
                  "evaluated_at"]  # fmt: skip
        read_only_fields = ["component", "last_heartbeat_at", "heartbeat_state", "promql_value", "evaluated_at"]
