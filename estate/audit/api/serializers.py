from __future__ import annotations

from rest_framework import serializers

from estate.audit.models import AuditEvent


class AuditEventSerializer(serializers.ModelSerializer):
    changes = serializers.JSONField(
        help_text="{field: [before, after]} for a change; {field: value} for a create, a delete or a start."
    )

    class Meta:
        model = AuditEvent
        fields = ["id", "at", "actor_id", "actor", "ip", "via", "action", "object_type", "object_id",
                  "object_repr", "changes", "message"]  # fmt: skip
        read_only_fields = fields
