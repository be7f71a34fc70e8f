"""Prometheus remote_write 1.0 at /api/v1/telemetry/prometheus/write: snappy protobuf, labels → inventory."""

from __future__ import annotations

import struct
import time

import cramjam
import pytest

from estate.telemetry.intake.remote_write import WriteRequest
from estate.telemetry.models import IngestBatch, Sample
from tests.factories import ImmutableComponentFactory, InstanceFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/telemetry/prometheus/write"
STALE_NAN = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]  # Prometheus's staleness marker


@pytest.fixture
def node():
    component = ImmutableComponentFactory(slug="node", name="node")
    InstanceFactory(component=component, external_id="10.0.0.5:9100")
    return component


def _write(*series) -> bytes:
    request = WriteRequest()
    for labels, samples in series:
        added = request.timeseries.add()
        for name, value in sorted(labels.items()):
            added.labels.add(name=name, value=value)
        for value, ts in samples:
            added.samples.add(value=value, timestamp=ts)
    return request.SerializeToString()


def _now_ms(seconds_ago: float = 1) -> int:
    return int((time.time() - seconds_ago) * 1000)


def _labels(name: str, job: str = "node", **more) -> dict:
    return {"__name__": name, "job": job, "instance": "10.0.0.5:9100", "environment": "production", **more}


def _post(client, body: bytes, **headers):
    headers.setdefault("HTTP_CONTENT_ENCODING", "snappy")
    return client.post(URL, data=body, content_type="application/x-protobuf",
                       HTTP_X_PROMETHEUS_REMOTE_WRITE_VERSION="0.1.0", **headers)  # fmt: skip


def test_series_become_samples_and_up_1_is_a_heartbeat(shipper, node):
    body = _write(
        (_labels("up"), [(1, _now_ms(2)), (1, _now_ms(1))]),
        (_labels("node_load1"), [(0.25, _now_ms(1))]),
    )
    response = _post(shipper, bytes(cramjam.snappy.compress_raw(body)))
    assert response.status_code == 200, response.content
    assert response.json()["stored"] == {"heartbeats": 2, "samples": 3, "events": 0}
    assert response.json()["rejected"] == 0
    assert sorted(Sample.objects.values_list("name", "value")) == [("node_load1", 0.25), ("up", 1), ("up", 1)]
    instance = node.instances.get()
    assert instance.last_seen_at is not None


def test_up_0_is_stored_but_is_no_heartbeat(shipper, node):
    _post(shipper, bytes(cramjam.snappy.compress_raw(_write((_labels("up"), [(0, _now_ms())])))))
    assert Sample.objects.get().value == 0
    assert node.instances.get().last_seen_at is None


def test_staleness_markers_are_skipped_not_rejected(shipper, node):
    body = _write((_labels("up"), [(STALE_NAN, _now_ms())]))
    answer = _post(shipper, bytes(cramjam.snappy.compress_raw(body))).json()
    assert answer["stale_markers"] == 1 and answer["rejected"] == 0
    assert not Sample.objects.exists()


def test_the_default_environment_and_configured_labels_map_series(shipper, node, settings):
    settings.TELEMETRY_DEFAULT_ENVIRONMENT = "production"
    settings.TELEMETRY_PROMETHEUS_COMPONENT_LABEL = "service"
    labels = {"__name__": "up", "service": "node", "instance": "10.0.0.5:9100", "job": "something-else"}
    answer = _post(shipper, bytes(cramjam.snappy.compress_raw(_write((labels, [(1, _now_ms())]))))).json()
    assert answer["rejected"] == 0 and node.instances.get().last_seen_at is not None


def test_series_of_unknown_jobs_are_counted_and_named_the_known_ones_stored(shipper, node):
    body = _write(
        (_labels("up"), [(1, _now_ms())]),
        (_labels("up", job="prometheus"), [(1, _now_ms()), (1, _now_ms(2))]),
    )
    answer = _post(shipper, bytes(cramjam.snappy.compress_raw(body))).json()
    assert answer["rejected"] == 2
    assert "No component production/prometheus" in answer["message"]
    assert Sample.objects.count() == 1


def test_a_duplicated_write_is_stored_once(shipper, node):
    body = bytes(cramjam.snappy.compress_raw(_write((_labels("node_load1"), [(0.5, _now_ms())]))))
    first, second = _post(shipper, body), _post(shipper, body)
    assert second.status_code == 200 and second["Idempotent-Replayed"] == "true"
    assert first.json() == second.json() and Sample.objects.count() == 1


@pytest.mark.parametrize(
    ("content_type", "encoding", "status"),
    [("application/json", "snappy", 415), ("application/x-protobuf", "gzip", 415), ("application/x-protobuf", "", 415)],
)
def test_only_snappy_protobuf_is_accepted(shipper, node, content_type, encoding, status):
    body = bytes(cramjam.snappy.compress_raw(_write((_labels("up"), [(1, _now_ms())]))))
    response = shipper.post(URL, data=body, content_type=content_type, HTTP_CONTENT_ENCODING=encoding)
    assert response.status_code == status
    assert "application/x-protobuf" in response.json()["detail"] or "snappy" in response.json()["detail"]
    assert not Sample.objects.exists()


def test_malformed_snappy_and_malformed_protobuf_are_400(shipper, node):
    assert _post(shipper, b"\x05not snappy at all").status_code == 400
    garbage = bytes(cramjam.snappy.compress_raw(b"\x0a\xff\xff\xff\xff\x0f"))
    response = _post(shipper, garbage)
    assert response.status_code == 400 and "prometheus.WriteRequest" in response.json()["detail"]
    assert not Sample.objects.exists() and not IngestBatch.objects.exists()


def test_a_snappy_body_that_would_inflate_past_the_limit_is_413_before_inflating(shipper, node, settings):
    settings.TELEMETRY_MAX_BODY_BYTES = 1024 * 1024
    bomb = bytes(cramjam.snappy.compress_raw(b"\x00" * (10 * 1024 * 1024)))
    assert len(bomb) < settings.TELEMETRY_MAX_BODY_BYTES
    response = _post(shipper, bomb)
    assert response.status_code == 413 and "inflates to 10485760 bytes" in response.json()["detail"]


def test_without_a_token_it_is_401(node):
    from rest_framework.test import APIClient

    body = bytes(cramjam.snappy.compress_raw(_write((_labels("up"), [(1, _now_ms())]))))
    assert _post(APIClient(), body).status_code == 401
