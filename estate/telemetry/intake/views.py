"""OTLP/HTTP (/v1/metrics, /v1/logs) and Prometheus remote_write, behind the ingest endpoint's auth.

The same authentication, permission and token scopes as /api/v1/telemetry/; the body is read raw
(no DRF parser), bounded, decompressed, translated and handed to the one ingest path.
"""

from __future__ import annotations

import json

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from rest_framework import serializers
from rest_framework.views import APIView

from estate.access.authentication import ApiTokenAuthentication, SessionAuthentication
from estate.core.errors import ApplicationError
from estate.telemetry.auth import CanIngestTelemetry, IngestTokenAuthentication, record_token_refusal
from estate.telemetry.intake import otlp, remote_write
from estate.telemetry.intake.body import IntakeError, content_type, read_body
from estate.telemetry.intake.logs import LogMatcher
from estate.telemetry.intake.mapping import OTLP_DEFAULTS, mapping_for, prometheus_defaults
from estate.telemetry.intake.store import REPLAYED, store_items, store_once

JSON = "application/json"


class IntakeView(APIView):
    """What every dialect shares: who may send, the raw bounded body, refusals that store nothing."""

    authentication_classes = [IngestTokenAuthentication, ApiTokenAuthentication, SessionAuthentication]
    token_scopes = {"ingest", "write"}  # as the JSON endpoint (see access.authentication)
    permission_classes = [CanIngestTelemetry]
    parser_classes: list = []  # the body is read raw, bounded, by read_body
    content_types: tuple[str, ...] = ()
    encodings: tuple[str, ...] = ()

    def perform_content_negotiation(self, request, force=False):
        # OTLP exporters may Accept application/x-protobuf, which no DRF renderer offers.
        return super().perform_content_negotiation(request, force=True)

    def post(self, request):
        media = content_type(request._request)
        try:
            if media not in self.content_types:
                raise IntakeError(
                    415, f"Content-Type {media or 'none'} is not accepted; send {' or '.join(self.content_types)}."
                )
            body = read_body(request._request, encodings=self.encodings)
            return self.answer(request, media, body)
        except ApplicationError as error:  # only the scope refuses a partial batch: 403, nothing stored
            if error.status == 403:
                record_token_refusal(request, error.message)  # after the rollback, as the JSON endpoint does
            return self.refusal(IntakeError(error.status, error.message), media)
        except IntakeError as error:
            return self.refusal(error, media)

    def answer(self, request, media: str, body: bytes) -> HttpResponse:
        raise NotImplementedError

    def refusal(self, error: IntakeError, media: str) -> HttpResponse:
        response = _json({"detail": error.message, "errors": {}}, error.status)
        if error.status == 415:
            response.headers["Accept-Post"] = ", ".join(self.content_types)
        return response


def _json(data: dict, status: int) -> HttpResponse:
    return HttpResponse(json.dumps(data), status=status, content_type=JSON)


class OtlpView(IntakeView):
    content_types = otlp.CONTENT_TYPES
    encodings = ("identity", "gzip")
    dialect = ""
    noun = ""

    def answer(self, request, media: str, body: bytes) -> HttpResponse:
        def store() -> dict:
            mapping = mapping_for(request.auth, OTLP_DEFAULTS)
            translation = self.translate(otlp.decode(body, media, self.request_message()), mapping)
            return store_items(request, translation.items, translation.origins, self.noun)

        outcome, replayed = store_once(request, self.dialect, body, store)
        response = HttpResponse(
            otlp.encode(self.response_message(outcome["rejected"], outcome["message"]), media), content_type=media
        )
        if replayed:
            response.headers[REPLAYED] = "true"
        return response

    def refusal(self, error: IntakeError, media: str) -> HttpResponse:
        """In the request's own encoding, as OTLP/HTTP asks: a google.rpc.Status."""
        if error.status == 415 or media not in self.content_types:
            return super().refusal(error, media)
        return HttpResponse(
            otlp.encode(otlp.status_message(error.message), media), status=error.status, content_type=media
        )


OTLP_STATUS = inline_serializer(
    "OtlpStatus", fields={"code": serializers.IntegerField(), "message": serializers.CharField()}
)


def _otlp_responses() -> dict:
    """Each answer in the request's encoding (OTLP/HTTP); 401, 415 and 429 in the API's error shape."""
    answers = {
        200: ("Stored; partial_success counts what was left out, and why.", OpenApiTypes.OBJECT),
        400: ("Not an OTLP message: a google.rpc.Status says why; nothing stored.", OTLP_STATUS),
        403: ("About components outside the sender's scope (a google.rpc.Status), or a credential that may not "
              "send telemetry (the API's error shape); nothing stored.", OpenApiTypes.OBJECT),
        413: ("Over TELEMETRY_MAX_BODY_BYTES sent or inflated, or over TELEMETRY_BATCH_LIMIT points.", OTLP_STATUS),
    }  # fmt: skip
    responses = {}
    for code, (description, json_schema) in answers.items():
        responses[(code, otlp.PROTOBUF)] = OpenApiResponse(OpenApiTypes.BINARY, description=description)
        responses[(code, otlp.JSON)] = OpenApiResponse(json_schema, description=description)
    responses[415] = OpenApiResponse(description="Not application/x-protobuf or application/json, or not gzip.")
    return responses


_OTLP_SCHEMA = extend_schema(
    request={otlp.PROTOBUF: OpenApiTypes.BINARY, otlp.JSON: OpenApiTypes.OBJECT}, responses=_otlp_responses()
)


class OtlpMetricsView(OtlpView):
    """OTLP/HTTP metrics: gauges and sums as samples, histograms as .count and .sum; resources beat."""

    dialect, noun = "otlp-metrics", "metric"

    def request_message(self):
        return metrics_service_pb2.ExportMetricsServiceRequest()

    def translate(self, message, mapping) -> otlp.Translation:
        return otlp.translate_metrics(message, mapping)

    def response_message(self, rejected: int, message: str):
        return otlp.metrics_response(rejected, message)

    @_OTLP_SCHEMA
    def post(self, request):
        return super().post(request)


class OtlpLogsView(OtlpView):
    """OTLP/HTTP logs: lines matching a log rule become mutation events (they taint); resources beat."""

    dialect, noun = "otlp-logs", "log"

    def request_message(self):
        return logs_service_pb2.ExportLogsServiceRequest()

    def translate(self, message, mapping) -> otlp.Translation:
        return otlp.translate_logs(message, LogMatcher(), mapping)

    def response_message(self, rejected: int, message: str):
        return otlp.logs_response(rejected, message)

    @_OTLP_SCHEMA
    def post(self, request):
        return super().post(request)


class PrometheusWriteView(IntakeView):
    """Prometheus remote_write 1.0: series by job → component, instance → instance; `up` 1 is a heartbeat."""

    content_types = ("application/x-protobuf",)
    encodings = ("snappy",)

    def answer(self, request, media: str, body: bytes) -> HttpResponse:
        def store() -> dict:
            mapping = mapping_for(request.auth, prometheus_defaults())
            items, origins, stale = remote_write.translate(remote_write.decode(body), mapping)
            return {**store_items(request, items, origins, "remote_write"), "stale_markers": stale}

        outcome, replayed = store_once(request, "remote-write", body, store)
        response = _json(outcome, 200)
        if replayed:
            response.headers[REPLAYED] = "true"
        return response

    @extend_schema(
        request={"application/x-protobuf": OpenApiTypes.BINARY},
        responses={
            200: OpenApiResponse(description="Stored; `rejected` counts samples left out, `message` says why."),
            400: OpenApiResponse(description="Not a snappy prometheus.WriteRequest; nothing stored."),
            403: OpenApiResponse(description="About components outside the sender's scope; nothing stored."),
            413: OpenApiResponse(description="Over TELEMETRY_MAX_BODY_BYTES, sent or inflated; nothing stored."),
            415: OpenApiResponse(description="Not application/x-protobuf with Content-Encoding snappy."),
        },
    )
    def post(self, request):
        return super().post(request)
