from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from estate.core.viewsets import ServiceModelViewSet
from estate.discovery import ownership, rules, services
from estate.discovery.api.serializers import (
    DiscoveredObjectSerializer,
    DiscoverySourceSerializer,
    SyncRunSerializer,
)
from estate.discovery.models import DiscoveredObject, DiscoverySource, SyncRun


class CanRead(permissions.BasePermission):
    def has_permission(self, request, view) -> bool:
        return rules.may_read(request.user)


class ReadOrManage(permissions.BasePermission):
    """Anyone who reads the inventory reads sources; only admins create, change, delete or sync them."""

    message = rules.MANAGE_REFUSED

    def has_permission(self, request, view) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return rules.may_read(request.user)
        return rules.may_manage(request.user)


class DiscoverySourceViewSet(ServiceModelViewSet):
    """Where Estate discovers the estate from (AWS accounts); credentials are ESTATE_* variable names."""

    queryset = DiscoverySource.objects.all()
    serializer_class = DiscoverySourceSerializer
    permission_classes = [ReadOrManage]
    filterset_fields = ["kind", "enabled"]

    @extend_schema(request=None, responses={202: SyncRunSerializer})
    @action(detail=True, methods=["post"])
    def sync(self, request, pk=None):
        """Queue a sync now; answers the run (202), which the worker then claims and fills in."""
        run = services.sync_request(source=self.get_object(), user=request.user)
        return Response(SyncRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"])
    def prune(self, request, pk=None):
        """Delete what has been gone from this source for longer than DISCOVERY_PRUNE_AFTER_DAYS."""
        return Response(services.discovery_prune(source=self.get_object()))


class SyncRunViewSet(viewsets.ReadOnlyModelViewSet):
    """Every sync and its report: counts, per-region errors, duration."""

    queryset = SyncRun.objects.select_related("source", "requested_by")
    serializer_class = SyncRunSerializer
    permission_classes = [CanRead]
    filterset_fields = ["source", "state"]


class MayDetach(permissions.BasePermission):
    """Reading is the inventory's readers'; detaching is editing the component (its scope is asked
    by the service's write guard)."""

    def has_permission(self, request, view) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return rules.may_read(request.user)
        return rules.may_read(request.user) and request.user.has_perm("inventory.change_component")


class DiscoveredObjectViewSet(viewsets.ReadOnlyModelViewSet):
    """What the sources found: each component's and instance's source, last seen, gone, detached."""

    queryset = DiscoveredObject.objects.select_related("source", "detached_by")
    serializer_class = DiscoveredObjectSerializer
    permission_classes = [MayDetach]
    filterset_fields = ["source", "kind", "component", "instance"]

    @extend_schema(request=None, responses={200: DiscoveredObjectSerializer})
    @action(detail=True, methods=["post"])
    def detach(self, request, pk=None):
        """Make the component hand-managed again: its source leaves it (and its instances) alone."""
        record = ownership.component_detach(record=self.get_object(), user=request.user)
        return Response(DiscoveredObjectSerializer(record).data)
