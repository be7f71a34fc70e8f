from __future__ import annotations

import hashlib
import json

from django.conf import settings
from django.db import IntegrityError, transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from estate.access.authentication import ApiTokenAuthentication, SessionAuthentication
from estate.core.api import payload_too_large
from estate.core.errors import ApplicationError
from estate.core.listing import ValuesListMixin
from estate.core.viewsets import ModelPermissions, ServiceModelViewSet
from estate.inventory.models import Component
from estate.telemetry import metrics
from estate.telemetry.api import schema, serializers
from estate.telemetry.auth import (
    CanIngestTelemetry,
    IngestTokenAuthentication,
    principal_of,
    record_token_refusal,
    sender_actor,
    sender_scope,
)
from estate.telemetry.filters import SampleFilterSet
from estate.telemetry.ingest import ingest
from estate.telemetry.models import ComponentTelemetry, HealthChange, IngestBatch, LogRule, MetricRule, Sample
from estate.telemetry.selectors import component_rules, metric_series

REPLAYED = "Idempotent-Replayed"
__all__ = ["schema"]  # imported for its schema extension


class TelemetryIngestViewSet(viewsets.ViewSet):
    """POST a batch of heartbeats, metric samples and events: all stored, or none.

    Items about components outside the sender's scope (an ingest token's teams and systems, or
    the person's own) refuse the batch with 403; items sent twice in a batch are stored once.
    """

    authentication_classes = [IngestTokenAuthentication, ApiTokenAuthentication, SessionAuthentication]
    token_scopes = {"ingest", "write"}  # personal tokens that may send telemetry (see access.authentication)
    permission_classes = [CanIngestTelemetry]

    @extend_schema(
        request=serializers.IngestBatchSerializer,
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False)],
        responses={
            201: serializers.IngestResultSerializer,
            400: OpenApiResponse(description="Bad items, by index; nothing stored."),
            403: OpenApiResponse(description="Items about components outside the sender's scope; nothing stored."),
            413: OpenApiResponse(description="Too many items or too large a body."),
            422: OpenApiResponse(description="Idempotency-Key reused for a different batch."),
        },
    )
    def create(self, request):
        try:
            return self._create(request)
        except ApplicationError as error:
            # The access-denied middleware names people; a machine token's refusal is recorded here,
            # after the batch's transaction has rolled back.
            if error.status == 403:
                record_token_refusal(request, error.message)
            raise

    def _create(self, request):
        if _content_length(request) > settings.TELEMETRY_MAX_BODY_BYTES:
            metrics.BATCHES.labels("too_large").inc()
            return Response(
                {"detail": f"The body is over {settings.TELEMETRY_MAX_BODY_BYTES} bytes.", "errors": {}},
                status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            )
        items = _items(request.data)
        if len(items) > settings.TELEMETRY_BATCH_LIMIT:
            metrics.BATCHES.labels("too_large").inc()
            return payload_too_large(settings.TELEMETRY_BATCH_LIMIT)
        key = _idempotency_key(request)
        if key is None:
            return self._store(request, items)
        principal = principal_of(request)
        digest = hashlib.sha256(json.dumps(items, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
        try:
            return _replay(IngestBatch.objects.get(principal=principal, key=key), digest)
        except IngestBatch.DoesNotExist:
            pass
        try:
            with transaction.atomic():
                # The key's row first: a concurrent retry waits on it, then replays the answer.
                batch = IngestBatch.objects.create(principal=principal, key=key, body_hash=digest, response={})
                response = self._store(request, items)
                batch.response = response.data
                batch.save(update_fields=["response"])
        except IntegrityError:
            return _replay(IngestBatch.objects.get(principal=principal, key=key), digest)
        return response

    def _store(self, request, items: list) -> Response:
        try:
            result = ingest(items, scope=sender_scope(request), actor=sender_actor(request))
        except ApplicationError:
            metrics.BATCHES.labels("rejected").inc()
            raise
        metrics.BATCHES.labels("stored").inc()
        for kind, count in (("heartbeat", result.heartbeats), ("sample", result.samples), ("event", result.events)):
            if count:
                metrics.INGESTED.labels(kind).inc(count)
        if result.tainted:
            metrics.TAINTS.inc(len(result.tainted))
        return Response(result.as_dict(), status=status.HTTP_201_CREATED)


def _content_length(request) -> int:
    # Django reads a header that is not a number as no body; so does this check, instead of a 500.
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _items(data) -> list:
    items = data.get("items") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ApplicationError(
            'Send a JSON list of items, or {"items": [...]}.', errors={"items": ["Expected a list of items."]}
        )
    return items


def _idempotency_key(request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not 0 < len(key) <= 200:
        raise ApplicationError(
            "Idempotency-Key must be 1 to 200 characters.", errors={"Idempotency-Key": ["Too long."]}
        )
    return key


def _replay(batch: IngestBatch, digest: str) -> Response:
    if batch.body_hash != digest:
        raise ApplicationError(
            "This Idempotency-Key was used for a different batch; use a new key for new data.",
            errors={"Idempotency-Key": ["Reused for a different batch."]},
            status=422,
        )
    metrics.BATCHES.labels("replayed").inc()
    return Response(batch.response, status=status.HTTP_201_CREATED, headers={REPLAYED: "true"})


class MetricRuleViewSet(ServiceModelViewSet):
    """Metric rules: a component's own, or (component empty) the default of a category."""

    queryset = MetricRule.objects.all()
    serializer_class = serializers.MetricRuleSerializer
    filterset_fields = ["component", "category", "metric", "enabled"]


class LogRuleViewSet(ServiceModelViewSet):
    """Log lines that mean an instance was changed by hand: OTLP log records matching an enabled
    rule become events of its kind (ssh_session, package_install, config_change ...), which taint."""

    queryset = LogRule.objects.all()
    serializer_class = serializers.LogRuleSerializer
    filterset_fields = ["kind", "enabled"]


class HealthChangeViewSet(ValuesListMixin, viewsets.ReadOnlyModelViewSet):
    """Every flip of health, newest first; filter by component or instance."""

    queryset = HealthChange.objects.select_related("instance")
    serializer_class = serializers.HealthChangeSerializer
    filterset_fields = ["component", "instance", "to_state"]
    export_ndjson = True


class SampleViewSet(ValuesListMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Metric samples as stored, newest first; filter by component, instance, metric name and time range.
    `?format=ndjson` exports every matching sample (README, "The REST API")."""

    # -id after -ts: samples of one moment keep one order across pages.
    queryset = Sample.objects.order_by("-ts", "-id")
    serializer_class = serializers.SampleSerializer
    filterset_class = SampleFilterSet
    export_ndjson = True


class ComponentTelemetryViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin, viewsets.GenericViewSet
):
    """A component's grace time, PromQL source and heartbeat state, by component id."""

    queryset = ComponentTelemetry.objects.order_by("component_id")
    filterset_fields = ["heartbeat_state"]
    lookup_url_kwarg = "id"
    lookup_value_regex = r"\d+"  # a component id; anything else is a 404, not a failed int()
    serializer_class = serializers.ComponentTelemetrySerializer
    permission_classes = [ModelPermissions]

    def get_object(self):
        component = get_object_or_404(Component, pk=self.kwargs["id"])
        telemetry, _ = ComponentTelemetry.objects.get_or_create(component=component)
        self.check_object_permissions(self.request, telemetry)
        return telemetry

    @extend_schema(responses={200: OpenApiResponse(description="Each metric's 5-minute averages over 24 hours.")})
    @action(detail=True, methods=["get"])
    def series(self, request, id=None):
        """What the component page charts: each metric over the last 24 hours, with its rule's thresholds."""
        telemetry = self.get_object()
        return Response(metric_series(telemetry.component, component_rules(telemetry.component)))

    def perform_update(self, serializer):
        from estate.core.services import validated_save

        obj = serializer.instance
        for name, value in serializer.validated_data.items():
            setattr(obj, name, value)
        serializer.instance = validated_save(obj)
