"""OTLP/HTTP: ExportMetricsServiceRequest and ExportLogsServiceRequest into ingest items.

Resources map to components and instances; gauges and sums become samples, histograms and
summaries their count and sum; log lines that match a LogRule become mutation events; every
resource that reports is a heartbeat. Each item remembers the data point (or log record) it came
from, so a partial success counts rejected points, not items.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from django.conf import settings
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2

from estate.telemetry.choices import ItemType
from estate.telemetry.intake.body import IntakeError
from estate.telemetry.intake.logs import LogMatcher
from estate.telemetry.intake.mapping import Mapping

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
CONTENT_TYPES = (PROTOBUF, JSON)
NO_RECORDED_VALUE = 1  # DataPointFlags.FLAG_NO_RECORDED_VALUE
INVALID_ARGUMENT = 3  # google.rpc.Code


@dataclass
class Translation:
    """Ingest items and, per item, the point it came from (None: a resource's heartbeat)."""

    items: list[dict] = field(default_factory=list)
    origins: list[int | None] = field(default_factory=list)
    points: int = 0

    def add(self, item: dict, origin: int | None) -> None:
        self.items.append(item)
        self.origins.append(origin)


# --- decoding and encoding ------------------------------------------------------------------


def decode(body: bytes, media_type: str, message: Message) -> Message:
    """Parse the body into `message`; 400 naming the problem when it is not one."""
    try:
        if media_type == PROTOBUF:
            message.ParseFromString(body)
        else:
            json_format.ParseDict(_without_ids(json.loads(body)), message, ignore_unknown_fields=True)
    except (DecodeError, json_format.ParseError, ValueError, TypeError, RecursionError) as error:
        kind = "protobuf" if media_type == PROTOBUF else "OTLP JSON"
        raise IntakeError(400, f"The body is not a valid {kind} {message.DESCRIPTOR.name}: {error}"[:500]) from None
    return message


def _without_ids(data):
    """OTLP JSON writes trace and span ids in hex where protobuf's JSON expects base64; Estate needs neither."""
    for resource in _list(data, "resourceLogs"):
        for scope in _list(resource, "scopeLogs"):
            for record in _list(scope, "logRecords"):
                if isinstance(record, dict):
                    for key in ("traceId", "spanId", "trace_id", "span_id"):
                        record.pop(key, None)
    return data


def _list(data, key: str) -> list:
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, list) else []


def encode(message: Message, media_type: str) -> bytes:
    if media_type == PROTOBUF:
        return message.SerializeToString()
    return json_format.MessageToJson(message, indent=None).encode()


def status_message(message: str) -> Message:
    """The body of an OTLP error answer: a google.rpc.Status."""
    return status_pb2.Status(code=INVALID_ARGUMENT, message=message)


def metrics_response(rejected: int, message: str) -> Message:
    response = metrics_service_pb2.ExportMetricsServiceResponse()
    if rejected or message:
        response.partial_success.rejected_data_points = rejected
        response.partial_success.error_message = message
    return response


def logs_response(rejected: int, message: str) -> Message:
    response = logs_service_pb2.ExportLogsServiceResponse()
    if rejected or message:
        response.partial_success.rejected_log_records = rejected
        response.partial_success.error_message = message
    return response


# --- resources ------------------------------------------------------------------------------


def _attributes(key_values) -> dict[str, str]:
    return {kv.key: _text(kv.value) for kv in key_values}


def _text(value) -> str:
    kind = value.WhichOneof("value")
    if kind is None:
        return ""
    if kind == "string_value":
        return value.string_value
    if kind in ("bool_value", "int_value", "double_value"):
        return str(getattr(value, kind))
    return json_format.MessageToJson(value, indent=None)  # arrays, maps, bytes: their JSON


def resource_refs(resource, mapping: Mapping) -> tuple[str | None, str | None]:
    """(component "environment/slug", instance external id) from a resource's attributes."""
    return mapping.refs(_attributes(resource.attributes))


def _timestamp(*nanos: int) -> float | None:
    """Seconds since 1970 from the first non-zero OTLP time; None (now) when none is set."""
    return next((n / 1e9 for n in nanos if n), None)


def _heartbeat(translation: Translation, component, instance) -> None:
    translation.add({"type": ItemType.HEARTBEAT, "component": component, "instance": instance}, None)


# --- metrics --------------------------------------------------------------------------------


def translate_metrics(request: metrics_service_pb2.ExportMetricsServiceRequest, mapping: Mapping) -> Translation:
    translation = Translation()
    for resource_metrics in request.resource_metrics:
        component, instance = resource_refs(resource_metrics.resource, mapping)
        _heartbeat(translation, component, instance)
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                _translate_metric(translation, metric, component, instance)
    return translation


def _translate_metric(translation: Translation, metric, component, instance) -> None:
    kind = metric.WhichOneof("data")
    base = {"type": ItemType.SAMPLE, "component": component, "instance": instance}
    if kind in ("gauge", "sum"):
        _number_points(translation, base, metric.name, metric.unit, getattr(metric, kind).data_points)
    elif kind in ("histogram", "exponential_histogram", "summary"):
        for point in getattr(metric, kind).data_points:
            if point.flags & NO_RECORDED_VALUE:
                continue
            origin = _sample(translation, base, f"{metric.name}.count", point.count, "", point)
            if kind == "summary" or point.HasField("sum"):
                _sample(translation, base, f"{metric.name}.sum", point.sum, metric.unit, point, origin)
            value = _quantile(kind, point, settings.TELEMETRY_HISTOGRAM_QUANTILE)
            if value is not None:
                name = f"{metric.name}.{quantile_suffix(settings.TELEMETRY_HISTOGRAM_QUANTILE)}"
                _sample(translation, base, name, value, metric.unit, point, origin)
    elif kind is not None:  # a data type a later OTLP adds: its points are rejected, not lost silently
        translation.add({**base, "name": metric.name, "value": None}, _next_point(translation))


def _number_points(translation: Translation, base: dict, name: str, unit: str, points) -> None:
    """The hot loop (most points are gauges and sums): one dict per point, no call per point."""
    items, origins = translation.items, translation.origins
    origin = translation.points
    for point in points:
        if point.flags & NO_RECORDED_VALUE:
            continue
        which = point.WhichOneof("value")
        value = point.as_double if which == "as_double" else point.as_int if which == "as_int" else None
        ts = point.time_unix_nano / 1e9 or None
        items.append({**base, "name": name, "value": value, "unit": unit, "timestamp": ts})
        origins.append(origin)
        origin += 1
    translation.points = origin


def quantile_suffix(q: float) -> str:
    """0.95 → "p95", 0.999 → "p99_9": the sample name's ending for the configured quantile."""
    return "p" + f"{q * 100:.4f}".rstrip("0").rstrip(".").replace(".", "_")


def _quantile(kind: str, point, q: float) -> float | None:
    """The q-quantile of a point: a summary's own if it reports that quantile; an explicit-bucket
    histogram's estimated as Prometheus's histogram_quantile does (linear within the bucket)."""
    if not 0 < q < 1 or not point.count:
        return None
    if kind == "summary":
        return next((v.value for v in point.quantile_values if abs(v.quantile - q) < 1e-9), None)
    if kind != "histogram" or len(point.bucket_counts) != len(point.explicit_bounds) + 1:
        return None  # exponential histograms: count and sum only
    return _bucket_quantile(list(point.explicit_bounds), list(point.bucket_counts), q * point.count)


def _bucket_quantile(bounds: list[float], counts: list[int], rank: float) -> float | None:
    below = 0
    for index, count in enumerate(counts):
        if count and below + count >= rank:
            if index == len(bounds):  # the overflow bucket has no upper bound: its lower one, as Prometheus
                return bounds[-1] if bounds else None
            upper = bounds[index]
            lower = bounds[index - 1] if index else min(0.0, upper)
            return lower + (upper - lower) * (rank - below) / count
        below += count
    return None


def _sample(translation, base, name, value, unit, point, origin: int | None = None) -> int:
    origin = _next_point(translation) if origin is None else origin
    ts = _timestamp(point.time_unix_nano)
    translation.add({**base, "name": name, "value": value, "unit": unit, "timestamp": ts}, origin)
    return origin


def _next_point(translation: Translation) -> int:
    translation.points += 1
    return translation.points - 1


# --- logs -----------------------------------------------------------------------------------


def translate_logs(
    request: logs_service_pb2.ExportLogsServiceRequest, matcher: LogMatcher, mapping: Mapping
) -> Translation:
    """Only the records a rule matches become events; the others are read and left (not rejected)."""
    translation = Translation()
    for resource_logs in request.resource_logs:
        component, instance = resource_refs(resource_logs.resource, mapping)
        _heartbeat(translation, component, instance)
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                origin = _next_point(translation)
                line = _text(record.body)
                kind = matcher.kind_of(line)
                if kind:
                    ts = _timestamp(record.time_unix_nano, record.observed_time_unix_nano)
                    event = {"type": ItemType.EVENT, "component": component, "instance": instance}
                    translation.add({**event, "kind": kind, "message": line[:500], "timestamp": ts}, origin)
    return translation
