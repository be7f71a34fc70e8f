from __future__ import annotations

from rest_framework import serializers

from estate.outbox.models import OutboxMessage


class OutboxMessageSerializer(serializers.ModelSerializer):
    payload = serializers.JSONField(help_text="What the handler of this kind sends.")
    result = serializers.JSONField(help_text="What the receiver answered, once sent.")

    class Meta:
        model = OutboxMessage
        fields = ["id", "kind", "key", "summary", "payload", "state", "attempts", "next_attempt_at",
                  "last_error", "result", "created_at", "sent_at"]  # fmt: skip
        read_only_fields = fields
