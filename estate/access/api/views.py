from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from estate.access import selectors, services
from estate.access.api import schema
from estate.access.api.serializers import ApiTokenCreatedSerializer, ApiTokenSerializer

__all__ = ["schema"]  # imported for its schema extension


class ApiTokenViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Personal API tokens. Yours; an admin whose access covers the whole estate sees and may revoke
    everyone's (a superuser's: only a superuser). The secret is shown once, on create; a token made
    with a token lives no longer than it and opens no more."""

    serializer_class = ApiTokenSerializer
    filterset_fields = ["scope", "user"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return selectors.tokens_visible_to(None)
        return selectors.tokens_visible_to(self.request.user)

    @extend_schema(request=ApiTokenSerializer, responses={201: ApiTokenCreatedSerializer})
    def create(self, request):
        body = ApiTokenSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        token, secret = services.token_create(
            user=request.user, name=data["name"], scope=data["scope"], expires_at=data["expires_at"]
        )
        token.token = secret
        return Response(ApiTokenCreatedSerializer(token).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=ApiTokenSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        token = services.token_revoke(token=self.get_object())
        return Response(ApiTokenSerializer(token).data)
