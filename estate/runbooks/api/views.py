from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import DjangoModelPermissions
from rest_framework.response import Response

from estate.core.viewsets import ServiceModelViewSet
from estate.patching.api.views import occurrence_by_key
from estate.runbooks import services
from estate.runbooks.api import serializers
from estate.runbooks.models import RunbookRun, RunbookTemplate, WindowRunbook


class RunbookTemplateViewSet(ServiceModelViewSet):
    """Runbook templates: typed steps and the executor their actions go through."""

    queryset = RunbookTemplate.objects.order_by("name")
    serializer_class = serializers.RunbookTemplateSerializer
    filterset_fields = ["executor", "team"]


class WindowRunbookViewSet(ServiceModelViewSet):
    """Which template a window's occurrences run."""

    queryset = WindowRunbook.objects.select_related("window", "template").order_by("pk")
    serializer_class = serializers.WindowRunbookSerializer
    filterset_fields = ["window", "template"]


class RunPermissions(DjangoModelPermissions):
    """Reading needs a login; starting a run needs operations.add_operation, answering it change_operation."""

    def has_permission(self, request, view):
        if not request.user or not request.user.is_authenticated:
            return False
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return True
        needed = "operations.change_operation" if view.action == "decide" else "operations.add_operation"
        return request.user.has_perm(needed)


class RunbookRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Runs of runbooks. POST starts one for an occurrence (202); POST …/decide/ answers the step it asks about."""

    permission_classes = [RunPermissions]
    serializer_class = serializers.RunbookRunSerializer
    filterset_fields = ["occurrence", "template"]

    def get_queryset(self):
        return (
            RunbookRun.objects.select_related("operation__requested_by", "occurrence")
            .prefetch_related("steps__decided_by")
            .order_by("-pk")
        )

    @extend_schema(request=serializers.RunbookRunStartSerializer, responses={202: serializers.RunbookRunSerializer})
    def create(self, request, *args, **kwargs):
        body = serializers.RunbookRunStartSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            occurrence = occurrence_by_key(body.validated_data["occurrence"])
        except Http404 as exc:  # a key in the body that names nothing: the body's field is what is wrong
            raise ValidationError({"occurrence": [str(exc)]}) from None
        run = services.run_start(
            occurrence=occurrence,
            requested_by=request.user,
            template=body.validated_data.get("template"),
            params=body.validated_data.get("params"),
        )
        return Response(self._shown(run), status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=serializers.DecisionSerializer, responses={202: serializers.RunbookRunSerializer})
    @action(detail=True, methods=["post"])
    def decide(self, request, pk=None):
        body = serializers.DecisionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        run = services.run_decide(run=self.get_object(), position=body.validated_data["step"] - 1,
                                  decision=body.validated_data["decision"], user=request.user)  # fmt: skip
        return Response(self._shown(run), status=status.HTTP_202_ACCEPTED)

    def _shown(self, run: RunbookRun) -> dict:
        return serializers.RunbookRunSerializer(self.get_queryset().get(pk=run.pk)).data
