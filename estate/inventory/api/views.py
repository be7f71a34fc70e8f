from __future__ import annotations

from estate.core.services import assign, validated_save
from estate.core.viewsets import BulkCreateMixin, ServiceModelViewSet
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
from estate.inventory.ownership import field_owners


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


class FieldOwnersMixin:
    """Reads who owns the fields of the rows shown (a page or one) in one query, for `managed_by`."""

    def get_serializer(self, *args, **kwargs):
        shown = args[0] if args else kwargs.get("instance")
        if shown is not None:
            rows = list(shown) if kwargs.get("many") else [shown]  # a queryset is read once, then cached
            model = self.get_serializer_class().Meta.model
            owners = field_owners([getattr(row, "pk", None) for row in rows], model=model)
            kwargs["context"] = {**self.get_serializer_context(), "field_owners": owners}
        return super().get_serializer(*args, **kwargs)


class ComponentViewSet(FieldOwnersMixin, BulkCreateMixin, ServiceModelViewSet):
    """Components. POST a list instead of an object to create many at once: all or nothing."""

    serializer_class = serializers.ComponentSerializer
    filterset_class = ComponentFilterSet
    values_method_fields = ("managed_by",)  # reads the row's pk and the page's owners (get_serializer)
    export_ndjson = True

    def get_queryset(self):
        return selectors.component_list().prefetch_related("depends_on")

    def perform_bulk_create(self, serializer):
        return services.component_bulk_create(items=serializer.validated_data)

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


class InstanceViewSet(FieldOwnersMixin, ServiceModelViewSet):
    queryset = Instance.objects.select_related("component", "image")
    serializer_class = serializers.InstanceSerializer
    filterset_class = InstanceFilterSet
    values_method_fields = ("managed_by",)  # reads the row's pk and the page's owners (get_serializer)
    export_ndjson = True

    def perform_create(self, serializer):
        serializer.instance = services.instance_save(data=serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.instance_save(instance=serializer.instance, data=serializer.validated_data)
