"""The model viewset every app's API builds on (apart from api.py: DRF's generics read the
pagination setting, which names estate.core.api, while this module is being imported)."""

from __future__ import annotations

from django.conf import settings
from rest_framework import status, viewsets
from rest_framework.permissions import DjangoModelPermissions
from rest_framework.response import Response

from estate.core.api import payload_too_large
from estate.core.listing import ValuesListMixin
from estate.core.services import assign, validated_delete, validated_save


class ModelPermissions(DjangoModelPermissions):
    """Reading needs a login; writing needs the model's add/change/delete permission."""


class ServiceModelViewSet(ValuesListMixin, viewsets.ModelViewSet):
    """Writes go through validated_save so the model's rules decide, as in the UI; lists read through
    the serializer's values() plan (estate.core.listing)."""

    permission_classes = [ModelPermissions]

    def perform_create(self, serializer):
        obj = serializer.Meta.model()
        serializer.instance = validated_save(obj, m2m=assign(obj, serializer.validated_data))

    def perform_update(self, serializer):
        obj = serializer.instance
        serializer.instance = validated_save(obj, m2m=assign(obj, serializer.validated_data))

    def perform_destroy(self, instance):
        validated_delete(instance)


class BulkCreateMixin:
    """The list POST also takes a list of objects and creates them all or none (at most API_BULK_LIMIT).

    The viewset says how in perform_bulk_create; estate.core.schema documents the body and the answer
    as one object or a list of them for every viewset with this mixin.
    """

    bulk_create = True  # what estate.core.schema.AutoSchema looks for

    def create(self, request, *args, **kwargs):
        if not isinstance(request.data, list):
            return super().create(request, *args, **kwargs)
        if len(request.data) > settings.API_BULK_LIMIT:
            return payload_too_large(settings.API_BULK_LIMIT)
        serializer = self.get_serializer(data=request.data, many=True, allow_empty=False)
        serializer.is_valid(raise_exception=True)
        created = self.perform_bulk_create(serializer)
        rows = self.get_queryset().in_bulk([obj.pk for obj in created])
        # In the order sent, so a client can pair each answer with its item.
        answer = self.get_serializer([rows[obj.pk] for obj in created], many=True)
        return Response(answer.data, status=status.HTTP_201_CREATED)

    def perform_bulk_create(self, serializer) -> list:
        """Create serializer.validated_data (a list), all or none; return the new rows."""
        raise NotImplementedError
