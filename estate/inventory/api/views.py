from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response

from estate.core.api import payload_too_large
from estate.core.services import assign, validated_save
from estate.core.viewsets import ServiceModelViewSet
from estate.inventory import selectors, services
from estate.inventory.api import serializers
from estate.inventory.filters import (
    ComponentFilterSet,
    ImageFilterSet,
    InstanceFilterSet,
    SystemFilterSet,
)
from estate.inventory.models import (
    Cluster,
    Environment,
    Image,
    Instance,
    System,
    Tag,
    Team,
)


class TeamViewSet(ServiceModelViewSet):
    queryset = Team.objects.all()
    serializer_class = serializers.TeamSerializer


class EnvironmentViewSet(ServiceModelViewSet):
    queryset = Environment.objects.all()
    serializer_class = serializers.EnvironmentSerializer


class TagViewSet(ServiceModelViewSet):
    queryset = Tag.objects.all()
    serializer_class = serializers.TagSerializer


class SystemViewSet(ServiceModelViewSet):
    queryset = System.objects.select_related("owner")
    serializer_class = serializers.SystemSerializer
    filterset_class = SystemFilterSet


class ClusterViewSet(ServiceModelViewSet):
    queryset = Cluster.objects.select_related("environment", "system")
    serializer_class = serializers.ClusterSerializer


class ComponentViewSet(ServiceModelViewSet):
    """Components. POST a list instead of an object to create many at once: all or nothing."""

    serializer_class = serializers.ComponentSerializer
    filterset_class = ComponentFilterSet

    def get_queryset(self):
        return selectors.component_list().prefetch_related("depends_on")

    @extend_schema(
        request=serializers.ComponentSerializer,
        responses={
            201: serializers.ComponentSerializer,
            413: OpenApiResponse(description="Too many items"),
        },
    )
    def create(self, request, *args, **kwargs):
        if not isinstance(request.data, list):
            return super().create(request, *args, **kwargs)
        if len(request.data) > settings.API_BULK_LIMIT:
            return payload_too_large(settings.API_BULK_LIMIT)
        serializer = self.get_serializer(data=request.data, many=True, allow_empty=False)
        serializer.is_valid(raise_exception=True)
        created = services.component_bulk_create(items=serializer.validated_data)
        rows = self.get_queryset().filter(pk__in=[c.pk for c in created])
        return Response(self.get_serializer(rows, many=True).data, status=status.HTTP_201_CREATED)

    def perform_create(self, serializer):
        component = services.component_create(data=serializer.validated_data)
        serializer.instance = self._annotated(component)

    def perform_update(self, serializer):
        component = services.component_update(component=serializer.instance, data=serializer.validated_data)
        serializer.instance = self._annotated(component)

    def _annotated(self, component):
        # The response carries instance_count and tainted_count like the list does.
        return self.get_queryset().get(pk=component.pk)


class ImageViewSet(ServiceModelViewSet):
    queryset = Image.objects.select_related("component")
    serializer_class = serializers.ImageSerializer
    filterset_class = ImageFilterSet

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        make_current = data.pop("make_current", False)
        serializer.instance = services.image_create(data=data, make_current=make_current)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        data.pop("make_current", None)
        obj = serializer.instance
        serializer.instance = validated_save(obj, m2m=assign(obj, data))


class InstanceViewSet(ServiceModelViewSet):
    queryset = Instance.objects.select_related("component", "image")
    serializer_class = serializers.InstanceSerializer
    filterset_class = InstanceFilterSet

    def perform_create(self, serializer):
        serializer.instance = services.instance_save(data=serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.instance_save(instance=serializer.instance, data=serializer.validated_data)
