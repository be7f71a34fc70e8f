"""API shapes. Serializers check types; every rule is the model's, reported through the services."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from estate.core.fields import ModelSerializer, SlugRelatedField
from estate.inventory.choices import Mode
from estate.inventory.models import (
    Cluster,
    Component,
    Environment,
    Image,
    Instance,
    System,
    Tag,
    Team,
)
from estate.inventory.ownership import owner_of


def _slug_field(model, **kwargs) -> SlugRelatedField:
    return SlugRelatedField(slug_field="slug", queryset=model.objects.all(), **kwargs)


class TeamSerializer(ModelSerializer):
    class Meta:
        model = Team
        fields = ["id", "name", "slug", "created_at", "updated_at"]


class EnvironmentSerializer(ModelSerializer):
    class Meta:
        model = Environment
        fields = ["id", "name", "slug", "is_production", "created_at", "updated_at"]


class TagSerializer(ModelSerializer):
    class Meta:
        model = Tag
        fields = ["id", "name", "slug", "created_at", "updated_at"]


class SystemSerializer(ModelSerializer):
    owner = _slug_field(Team, required=False, allow_null=True)

    class Meta:
        model = System
        fields = [
            "id",
            "name",
            "slug",
            "description",
            "owner",
            "created_at",
            "updated_at",
        ]


class ClusterSerializer(ModelSerializer):
    environment = _slug_field(Environment)
    system = _slug_field(System, required=False, allow_null=True)

    class Meta:
        model = Cluster
        fields = [
            "id",
            "name",
            "slug",
            "engine",
            "environment",
            "system",
            "created_at",
            "updated_at",
        ]


class ManagedBySerializer(serializers.Serializer):
    owner = serializers.CharField(help_text='Who writes these fields, e.g. "discovery:aws-prod".')
    managed_fields = serializers.ListField(child=serializers.CharField(), help_text="Refused to hand edits.")
    hint = serializers.CharField(help_text="How to take them back.")
    detach_url = serializers.CharField(help_text="POST here to make the component hand-managed again.")


class ManagedByMixin(serializers.Serializer):
    """`managed_by`: the source that owns some fields of the row (a hand edit of them is a 400), or null."""

    managed_by = serializers.SerializerMethodField(
        help_text="The source that owns some of the fields (a hand edit of them is a 400), or null."
    )

    @extend_schema_field(ManagedBySerializer(allow_null=True))
    def get_managed_by(self, obj) -> dict | None:
        owners = self.context.get("field_owners")  # the viewset reads a page's owners in one query
        owner = owners.get(obj.pk) if owners is not None else owner_of(obj)
        if owner is None:
            return None
        fields = sorted(owner.fields)
        return {"owner": owner.name, "managed_fields": fields, "hint": owner.hint, "detach_url": owner.detach_url}


class ComponentSerializer(ManagedByMixin, ModelSerializer):
    environment = _slug_field(Environment)
    system = _slug_field(System, required=False, allow_null=True)
    team = _slug_field(Team, required=False, allow_null=True)
    tags = _slug_field(Tag, many=True, required=False)
    cluster = _slug_field(Cluster, required=False, allow_null=True)
    mode = serializers.ChoiceField(
        choices=Mode.choices,
        required=False,
        help_text="Defaults to bastion when the component holds state, else immutable.",
    )
    instance_count = serializers.IntegerField(read_only=True)
    tainted_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Component
        fields = [
            "id", "name", "slug", "description", "environment", "system", "team", "tags", "depends_on",
            "category", "mode", "holds_state", "local_state", "heartbeat_period_seconds",
            "provider", "current_image", "desired_instances", "max_instance_age_days",
            "ssh_enabled", "config_management_enabled",
            "engine", "engine_version", "cluster", "role", "patch_cadence_days", "expected_failover_seconds",
            "health", "health_reason", "health_changed_at",
            "instance_count", "tainted_count", "managed_by", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["health", "health_reason", "health_changed_at"]
        # The model's full_clean() in the service checks uniqueness and every rule.
        validators = []

    def validate(self, attrs: dict) -> dict:
        if self.instance is None and "mode" not in attrs:
            attrs["mode"] = Mode.BASTION if attrs.get("holds_state") else Mode.IMMUTABLE
        return attrs


class ImageSerializer(ModelSerializer):
    make_current = serializers.BooleanField(
        write_only=True,
        default=False,
        help_text="Also make it the component's current image.",
    )

    class Meta:
        model = Image
        fields = [
            "id",
            "component",
            "version",
            "reference",
            "built_at",
            "make_current",
            "created_at",
        ]
        validators = []


class InstanceSerializer(ManagedByMixin, ModelSerializer):
    class Meta:
        model = Instance
        fields = [
            "id", "component", "external_id", "image", "state", "address", "zone", "launched_at",
            "tainted", "taint_reason", "tainted_at", "health", "health_reason", "last_seen_at",
            "managed_by", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["tainted_at", "health", "health_reason", "last_seen_at"]
        validators = []
