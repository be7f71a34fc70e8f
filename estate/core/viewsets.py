"""The model viewset every app's API builds on (apart from api.py: DRF's generics read the
pagination setting, which names estate.core.api, while this module is being imported)."""

from __future__ import annotations

from rest_framework import viewsets
from rest_framework.permissions import DjangoModelPermissions

from estate.core.services import assign, validated_delete, validated_save


class ModelPermissions(DjangoModelPermissions):
    """Reading needs a login; writing needs the model's add/change/delete permission."""


class ServiceModelViewSet(viewsets.ModelViewSet):
    """Writes go through validated_save so the model's rules decide, as in the UI."""

    permission_classes = [ModelPermissions]

    def perform_create(self, serializer):
        obj = serializer.Meta.model()
        serializer.instance = validated_save(obj, m2m=assign(obj, serializer.validated_data))

    def perform_update(self, serializer):
        obj = serializer.instance
        serializer.instance = validated_save(obj, m2m=assign(obj, serializer.validated_data))

    def perform_destroy(self, instance):
        validated_delete(instance)
