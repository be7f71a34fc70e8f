from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from estate.outbox import selectors, services
from estate.outbox.api.serializers import OutboxMessageSerializer
from estate.outbox.filters import OutboxMessageFilterSet


class OutboxPermission(permissions.DjangoModelPermissions):
    """Reading needs outbox.view_outboxmessage; a retry needs outbox.change_outboxmessage."""

    perms_map = {
        **permissions.DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "POST": ["%(app_label)s.change_%(model_name)s"],
    }


class OutboxMessageViewSet(viewsets.ReadOnlyModelViewSet):
    """Side effects (Alertmanager silences, notifications) and where each stands: sent, waiting for a
    retry after a failure, or given up."""

    queryset = selectors.message_list()
    serializer_class = OutboxMessageSerializer
    filterset_class = OutboxMessageFilterSet
    permission_classes = [OutboxPermission]

    @extend_schema(request=None, responses={202: OutboxMessageSerializer})
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        """Try a message that gave up once more, now."""
        message = services.outbox_retry(message=self.get_object())
        return Response(self.get_serializer(message).data, status=status.HTTP_202_ACCEPTED)
