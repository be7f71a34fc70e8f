from __future__ import annotations

from rest_framework import serializers

from estate.discovery.models import DiscoveredObject, DiscoverySource, SyncRun
from estate.discovery.ownership import managed_fields


class DiscoverySourceSerializer(serializers.ModelSerializer):
    class Meta:
        model = DiscoverySource
        fields = [
            "id", "name", "kind", "enabled", "regions", "endpoint_url", "access_key_id_env",
            "secret_access_key_env", "session_token_env", "namespaces", "token_env", "ca_bundle_env", "insecure",
            "tag_keys", "default_environment",
            "interval_minutes", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["created_at", "updated_at"]


class SyncRunSerializer(serializers.ModelSerializer):
    source = serializers.SlugRelatedField(slug_field="name", read_only=True)
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    duration_seconds = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = SyncRun
        fields = [
            "id", "source", "state", "requested_by", "created_at", "started_at", "finished_at",
            "duration_seconds", "account", "created", "updated", "gone", "unchanged", "errors", "report",
            "region_errors", "messages",
        ]  # fmt: skip
        read_only_fields = fields


class DiscoveredObjectSerializer(serializers.ModelSerializer):
    """Where a component or instance came from; a component's managed fields until it is detached."""

    source = serializers.SlugRelatedField(slug_field="name", read_only=True)
    detached_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    managed_fields = serializers.SerializerMethodField()

    class Meta:
        model = DiscoveredObject
        fields = [
            "id", "source", "key", "kind", "region", "account", "component", "instance", "details",
            "first_seen_at", "last_seen_at", "gone_since", "detached_at", "detached_by", "managed_fields",
        ]  # fmt: skip
        read_only_fields = fields

    def get_managed_fields(self, record: DiscoveredObject) -> list[str]:
        """Refused to hand edits; empty for an instance and once detached."""
        if record.component_id is None or record.detached_at is not None:
            return []
        return list(managed_fields(record.source))
