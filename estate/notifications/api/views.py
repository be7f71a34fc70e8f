from __future__ import annotations

from estate.core.viewsets import ServiceModelViewSet
from estate.notifications.api.serializers import NotificationRouteSerializer
from estate.notifications.models import NotificationRoute


class NotificationRouteViewSet(ServiceModelViewSet):
    """Where each team hears of failed or cancelled operations, tripped breakers, new critical
    findings and patch windows: a signed Slack-compatible webhook or e-mail, sent through the outbox."""

    queryset = NotificationRoute.objects.select_related("team").order_by("name", "pk")
    serializer_class = NotificationRouteSerializer
    filterset_fields = ["team", "channel", "enabled"]
