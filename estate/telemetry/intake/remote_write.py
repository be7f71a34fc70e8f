"""Prometheus remote_write 1.0: a snappy-compressed protobuf prometheus.WriteRequest into ingest items.

The message types are declared here, in code, from the remote-write 1.0 specification's wire
format (field numbers are the protocol): no generated *_pb2.py to keep in step, no protoc at build
time. Only what Estate reads is declared; other fields (metadata, exemplars, native histograms)
are skipped as unknown fields, as protobuf does.
"""

from __future__ import annotations

import math

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

from estate.telemetry.choices import ItemType
from estate.telemetry.intake.body import IntakeError
from estate.telemetry.intake.mapping import Mapping

F = descriptor_pb2.FieldDescriptorProto
MESSAGES = {
    "Sample": [("value", 1, F.TYPE_DOUBLE, None), ("timestamp", 2, F.TYPE_INT64, None)],
    "Label": [("name", 1, F.TYPE_STRING, None), ("value", 2, F.TYPE_STRING, None)],
    "TimeSeries": [("labels", 1, F.TYPE_MESSAGE, "Label"), ("samples", 2, F.TYPE_MESSAGE, "Sample")],
    "WriteRequest": [("timeseries", 1, F.TYPE_MESSAGE, "TimeSeries")],
}
REPEATED = {"labels", "samples", "timeseries"}


def _write_request_class():
    """prometheus.WriteRequest in a pool of its own (no clash with another copy of these names)."""
    proto = descriptor_pb2.FileDescriptorProto(name="estate_prompb.proto", package="prometheus", syntax="proto3")
    for name, fields in MESSAGES.items():
        message = proto.message_type.add(name=name)
        for field_name, number, kind, type_name in fields:
            label = F.LABEL_REPEATED if field_name in REPEATED else F.LABEL_OPTIONAL
            message.field.add(
                name=field_name, number=number, type=kind, label=label,
                type_name=f".prometheus.{type_name}" if type_name else None,
            )  # fmt: skip
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("prometheus.WriteRequest"))


WriteRequest = _write_request_class()


def decode(body: bytes):
    request = WriteRequest()
    try:
        request.ParseFromString(body)
    except DecodeError as error:
        raise IntakeError(400, f"The body is not a valid prometheus.WriteRequest: {error}") from None
    return request


def translate(request, mapping: Mapping) -> tuple[list[dict], list[int | None], int]:
    """Ingest items (each sample; a heartbeat too for `up` == 1), the sample each came from (None for
    a heartbeat: a partial success counts samples), and how many staleness markers were skipped."""
    items: list[dict] = []
    origins: list[int | None] = []
    stale = 0
    for series in request.timeseries:
        labels = {label.name: label.value for label in series.labels}
        component, instance = mapping.refs(labels)
        base = {"component": component, "instance": instance}
        name = labels.get("__name__")
        for sample in series.samples:
            if math.isnan(sample.value):  # Prometheus's staleness marker: the series ended, not a value
                stale += 1
                continue
            ts = sample.timestamp / 1000
            origins.append(len(items))
            items.append({**base, "type": ItemType.SAMPLE, "name": name, "value": sample.value, "timestamp": ts})
            if name == "up" and sample.value == 1:
                origins.append(None)
                items.append({**base, "type": ItemType.HEARTBEAT, "timestamp": ts})
    return items, origins, stale
