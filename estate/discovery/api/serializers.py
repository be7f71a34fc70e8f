from __future__ import annotations

from rest_framework import serializers

from estate.discovery.models import DiscoverySource, SyncRun


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
