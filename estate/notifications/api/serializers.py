from __future__ import annotations

from rest_framework import serializers

from estate.notifications.choices import NotificationEvent
from estate.notifications.models import NotificationRoute


class NotificationRouteSerializer(serializers.ModelSerializer):
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=NotificationEvent.choices), allow_empty=False, max_length=20
    )

    class Meta:
        model = NotificationRoute
        fields = ["id", "name", "team", "channel", "url", "emails", "secret_env", "events", "enabled",
                  "created_at", "updated_at"]  # fmt: skip
        read_only_fields = ["created_at", "updated_at"]
