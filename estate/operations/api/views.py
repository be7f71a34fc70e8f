from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import DjangoModelPermissions
from rest_framework.response import Response

from estate.core.listing import ValuesListMixin
from estate.core.viewsets import ServiceModelViewSet
from estate.operations import policies, selectors, services
from estate.operations.api import serializers
from estate.operations.filters import OperationFilterSet
from estate.operations.models import ProviderConfig, RemediationPolicy


class OperationPermissions(DjangoModelPermissions):
    """Reading needs a login; starting, cancelling and resuming need operations.add_operation."""

    perms_map = {**DjangoModelPermissions.perms_map, "POST": ["%(app_label)s.add_%(model_name)s"]}


class OperationViewSet(ValuesListMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Operations. POST starts one (202 with the queued row); poll the row, or its steps, until it finishes."""

    permission_classes = [OperationPermissions]
    filterset_class = OperationFilterSet
    values_method_fields = ("percent",)  # Operation.percent reads progress_done, progress_total and state

    def get_queryset(self):
        qs = selectors.operation_list()
        return qs.prefetch_related("steps") if self.action == "retrieve" else qs

    def get_serializer_class(self):
        if self.action == "create":
            return serializers.OperationCreateSerializer
        if self.action == "retrieve":
            return serializers.OperationDetailSerializer
        return serializers.OperationSerializer

    @extend_schema(request=serializers.OperationCreateSerializer, responses={202: serializers.OperationSerializer})
    def create(self, request, *args, **kwargs):
        serializer = serializers.OperationCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        operation = services.operation_start(requested_by=request.user, **serializer.validated_data)
        return Response(serializers.OperationSerializer(operation).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={202: serializers.OperationSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        operation = services.operation_cancel(operation=self.get_object(), user=request.user)
        return Response(serializers.OperationSerializer(operation).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={202: serializers.OperationSerializer})
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        operation = services.operation_resume(operation=self.get_object(), user=request.user)
        return Response(serializers.OperationSerializer(operation).data, status=status.HTTP_202_ACCEPTED)


class ProviderConfigViewSet(ServiceModelViewSet):
    """How Estate reaches each component's provider; secrets stay in the environment."""

    queryset = ProviderConfig.objects.select_related("component").order_by("pk")
    serializer_class = serializers.ProviderConfigSerializer
    filterset_fields = ["component", "simulated"]


class RemediationPolicyViewSet(ServiceModelViewSet):
    """Per-component policies; every switch is off until set."""

    queryset = RemediationPolicy.objects.select_related("component").order_by("pk")
    serializer_class = serializers.RemediationPolicySerializer
    filterset_fields = ["component"]

    @extend_schema(request=None, responses={200: serializers.RemediationPolicySerializer})
    @action(detail=True, methods=["post"], url_path="close-breaker")
    def close_breaker(self, request, pk=None):
        policy = policies.policy_close_breaker(policy=self.get_object())
        return Response(serializers.RemediationPolicySerializer(policy).data)
