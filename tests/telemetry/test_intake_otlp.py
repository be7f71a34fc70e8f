"""OTLP/HTTP at /v1/metrics and /v1/logs: encodings, mapping, partial success and refusals."""

from __future__ import annotations

import gzip
import json
import time

import pytest
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from rest_framework.test import APIClient

from estate.audit.choices import AuditAction
from estate.audit.models import AuditEvent
from estate.telemetry.models import ComponentTelemetry, Event, IngestBatch, Sample
from tests.factories import ImmutableComponentFactory, IngestTokenFactory, InstanceFactory, TeamFactory

pytestmark = pytest.mark.django_db

PROTOBUF = "application/x-protobuf"
METRICS, LOGS = "/v1/metrics", "/v1/logs"


def _resource(message, service: str, instance: str = "i-1", environment: str = "production"):
    for key, value in (("service.name", service), ("deployment.environment", environment),
                       ("service.instance.id", instance)):  # fmt: skip
        if value:
            message.resource.attributes.add(key=key).value.string_value = value
    return message


def _metrics(service: str, instance: str = "i-1", environment: str = "production") -> ExportMetricsServiceRequest:
    """A gauge, an int sum and a histogram, each with one point from a second ago."""
    now = time.time_ns() - 1_000_000_000
    request = ExportMetricsServiceRequest()
    scope = _resource(request.resource_metrics.add(), service, instance, environment).scope_metrics.add()
    gauge = scope.metrics.add(name="cpu_percent", unit="%")
    gauge.gauge.data_points.add(time_unix_nano=now, as_double=42.5)
    total = scope.metrics.add(name="requests_total")
    total.sum.data_points.add(time_unix_nano=now, as_int=7)
    histogram = scope.metrics.add(name="latency_ms", unit="ms")
    histogram.histogram.data_points.add(time_unix_nano=now, count=4, sum=100.0, bucket_counts=[1, 3])
    return request


def _logs(service: str, *lines: str, instance: str = "i-1") -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    scope = _resource(request.resource_logs.add(), service, instance).scope_logs.add()
    for line in lines:
        scope.log_records.add(time_unix_nano=time.time_ns() - 1_000_000_000).body.string_value = line
    return request


def _post(client: APIClient, url: str, message, **headers):
    return client.post(url, data=message.SerializeToString(), content_type=PROTOBUF, **headers)


@pytest.fixture
def service(default_log_rules):
    component = ImmutableComponentFactory(slug="checkout", name="checkout")
    InstanceFactory(component=component, external_id="i-1")
    return component


def _samples(component) -> dict[str, float]:
    return dict(Sample.objects.filter(component=component).values_list("name", "value"))


def test_protobuf_metrics_become_samples_histograms_count_and_sum_and_the_resource_beats(shipper, service):
    response = _post(shipper, METRICS, _metrics("checkout"))
    assert response.status_code == 200 and response["Content-Type"] == PROTOBUF
    answer = ExportMetricsServiceResponse.FromString(response.content)
    assert not answer.HasField("partial_success")
    assert _samples(service) == {"cpu_percent": 42.5, "requests_total": 7, "latency_ms.count": 4, "latency_ms.sum": 100}
    assert Sample.objects.filter(instance__external_id="i-1").count() == 4
    assert service.instances.get().last_seen_at is not None
    assert ComponentTelemetry.objects.get(component=service).last_heartbeat_at is not None


def test_json_metrics_with_int64_strings_are_answered_in_json(shipper, service):
    body = {
        "resourceMetrics": [{
            "resource": {"attributes": [
                {"key": "service.name", "value": {"stringValue": "checkout"}},
                {"key": "deployment.environment.name", "value": {"stringValue": "production"}},
                {"key": "host.id", "value": {"stringValue": "i-1"}},
            ]},
            "scopeMetrics": [{"metrics": [{"name": "queue_depth", "gauge": {"dataPoints": [
                {"timeUnixNano": str(time.time_ns()), "asInt": "12"}]}}]}],
        }]
    }  # fmt: skip
    response = shipper.post(METRICS, data=json.dumps(body), content_type="application/json")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert response.json() == {}
    assert _samples(service) == {"queue_depth": 12}


def test_a_gzip_body_is_inflated(shipper, service):
    body = gzip.compress(_metrics("checkout").SerializeToString())
    response = shipper.post(METRICS, data=body, content_type=PROTOBUF, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 200
    assert len(_samples(service)) == 4


def test_an_unknown_resource_is_a_partial_success_naming_it_and_the_known_one_is_stored(shipper, service):
    request = _metrics("checkout")
    request.resource_metrics.extend(_metrics("no-such-service").resource_metrics)
    response = _post(shipper, METRICS, request)
    assert response.status_code == 200
    partial = ExportMetricsServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_data_points == 3  # the gauge, the sum, the histogram (its count and sum are one point)
    assert "No component production/no-such-service" in partial.error_message
    assert len(_samples(service)) == 4


def test_a_resource_without_service_name_is_rejected_with_the_reason(shipper, service):
    response = _post(shipper, METRICS, _metrics("", environment=""))
    partial = ExportMetricsServiceResponse.FromString(response.content).partial_success
    assert response.status_code == 200 and partial.rejected_data_points == 3
    assert "component" in partial.error_message
    assert not Sample.objects.exists()


def test_the_default_environment_names_resources_that_name_none(shipper, service, settings):
    settings.TELEMETRY_DEFAULT_ENVIRONMENT = "production"
    response = _post(shipper, METRICS, _metrics("checkout", environment=""))
    assert not ExportMetricsServiceResponse.FromString(response.content).HasField("partial_success")
    assert len(_samples(service)) == 4


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (b"\x0a\xff\xff\xff\xff\x0f", PROTOBUF, "not a valid protobuf"),
        (b'{"resourceMetrics": [{"resource": 7}]}', "application/json", "not a valid OTLP JSON"),
        (b"{not json", "application/json", "not a valid OTLP JSON"),
    ],
)
def test_a_malformed_body_is_400_with_a_status_in_its_encoding_and_stores_nothing(shipper, service, body,
                                                                                    content_type, reason):  # fmt: skip
    response = shipper.post(METRICS, data=body, content_type=content_type)
    assert response.status_code == 400
    if content_type == PROTOBUF:
        message = status_pb2.Status.FromString(response.content).message
    else:
        message = response.json()["message"]
    assert reason in message
    assert not Sample.objects.exists() and not IngestBatch.objects.exists()


def test_a_truncated_gzip_body_is_400(shipper, service):
    body = gzip.compress(_metrics("checkout").SerializeToString())[:-8]
    response = shipper.post(METRICS, data=body, content_type=PROTOBUF, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 400 and not Sample.objects.exists()


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/octet-stream"]
)
def test_another_content_type_is_415_naming_the_accepted_ones(shipper, service, content_type):
    response = shipper.post(METRICS, data=b"x=1", content_type=content_type)
    assert response.status_code == 415
    assert "application/x-protobuf or application/json" in response.json()["detail"]
    assert response["Accept-Post"] == "application/x-protobuf, application/json"


def test_another_content_encoding_is_415(shipper, service):
    response = shipper.post(METRICS, data=b"x", content_type=PROTOBUF, HTTP_CONTENT_ENCODING="br")
    assert response.status_code == 415 and "gzip" in response.json()["detail"]


def test_a_body_over_the_limit_is_413_and_stores_nothing(shipper, service, settings):
    body = _metrics("checkout").SerializeToString()
    settings.TELEMETRY_MAX_BODY_BYTES = len(body) - 1
    response = shipper.post(METRICS, data=body, content_type=PROTOBUF)
    assert response.status_code == 413
    assert "over" in status_pb2.Status.FromString(response.content).message
    assert not Sample.objects.exists()


def test_a_gzip_bomb_is_413_however_small_it_is_sent(shipper, service, settings):
    settings.TELEMETRY_MAX_BODY_BYTES = 1024 * 1024
    bomb = gzip.compress(b"\x00" * (50 * 1024 * 1024))
    assert len(bomb) < 100 * 1024
    response = shipper.post(METRICS, data=bomb, content_type=PROTOBUF, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 413
    assert "inflates to more than" in status_pb2.Status.FromString(response.content).message


def test_a_duplicated_request_is_stored_once_and_answered_the_same(shipper, service):
    request = _metrics("checkout")
    request.resource_metrics.extend(_metrics("no-such-service").resource_metrics)
    first = _post(shipper, METRICS, request)
    second = _post(shipper, METRICS, request)
    assert second.status_code == 200 and second["Idempotent-Replayed"] == "true"
    assert second.content == first.content
    assert Sample.objects.count() == 4


def test_a_resource_outside_the_tokens_scope_refuses_the_request_and_is_audited(service):
    token = IngestTokenFactory(teams=[TeamFactory()])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token.raw}")
    response = _post(client, METRICS, _metrics("checkout"))
    assert response.status_code == 403
    assert "outside the sender's scope" in status_pb2.Status.FromString(response.content).message
    assert not Sample.objects.exists() and not IngestBatch.objects.exists()
    assert AuditEvent.objects.filter(action=AuditAction.ACCESS_DENIED, actor=f"ingest-token:{token.name}").exists()


def test_no_token_is_401_and_a_revoked_or_unknown_one_too(service):
    assert _post(APIClient(), METRICS, _metrics("checkout")).status_code == 401
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer est_not-a-token")
    assert _post(client, METRICS, _metrics("checkout")).status_code == 401
    assert not Sample.objects.exists()


# --- logs ---------------------------------------------------------------------------------------


def test_an_sshd_login_in_otlp_logs_taints_the_immutable_instance_audited_as_json_events_are(shipper, service,
                                                                                          ingest_token):  # fmt: skip
    line = "sshd[811]: Accepted publickey for alice from 10.0.0.7 port 50022 ssh2: ED25519 SHA256:abc"
    response = _post(shipper, LOGS, _logs("checkout", "systemd[1]: Started session 4.", line))
    assert response.status_code == 200
    assert not ExportLogsServiceResponse.FromString(response.content).HasField("partial_success")
    instance = service.instances.get()
    assert instance.tainted and instance.taint_reason.startswith("ssh_session")
    event = Event.objects.get()  # the line no rule matches is read, not stored
    assert event.kind == "ssh_session" and event.tainted and event.message == line
    audit = AuditEvent.objects.get(action=AuditAction.INSTANCE_TAINTED)
    assert audit.actor == f"ingest-token:{ingest_token.name}" and audit.changes["event"]["id"] == event.pk
    assert instance.last_seen_at is not None


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("2026-11-30 10:00:01 install curl:amd64 <none> 7.88.1-10", "package_install"),
        ("Commandline: apt-get install -y curl", "package_install"),
        ("Nov 30 10:00:01 Installed: htop-3.2.1-1.el9.x86_64", "package_install"),
        ("ansible-ansible.legacy.command Invoked with _raw_params=uptime", "config_change"),
        ("Chef Infra Client finished, 3/120 resources updated in 12 seconds", "config_change"),
        ("Applied catalog in 4.21 seconds", "config_change"),
        ("sshd[99]: Accepted password for root from 192.0.2.1 port 2222 ssh2", "ssh_session"),
    ],
)
def test_the_default_rules_turn_package_config_and_ssh_lines_into_mutations(shipper, service, line, kind):
    _post(shipper, LOGS, _logs("checkout", line))
    assert Event.objects.get().kind == kind
    assert service.instances.get().tainted


def test_ordinary_lines_and_a_failed_ssh_login_taint_nothing(shipper, service):
    lines = ("sshd[9]: Failed password for root from 192.0.2.1 port 22 ssh2", "GET /healthz 200", "x" * 100_000)
    response = _post(shipper, LOGS, _logs("checkout", *lines))
    assert response.status_code == 200
    assert not Event.objects.exists() and not service.instances.get().tainted


def test_a_disabled_rule_matches_nothing(shipper, service):
    from estate.telemetry.models import LogRule

    LogRule.objects.filter(kind="ssh_session").update(enabled=False)
    _post(shipper, LOGS, _logs("checkout", "sshd[1]: Accepted publickey for bob from 10.0.0.1 port 1 ssh2"))
    assert not Event.objects.exists()


def test_a_log_line_from_an_unknown_instance_is_a_partial_success(shipper, service):
    request = _logs("checkout", "sshd[1]: Accepted publickey for bob from 10.0.0.1 port 1 ssh2", instance="i-404")
    partial = ExportLogsServiceResponse.FromString(_post(shipper, LOGS, request).content).partial_success
    assert partial.rejected_log_records == 1 and "has no instance i-404" in partial.error_message
    assert not Event.objects.exists()


def test_json_logs_with_hex_trace_ids_as_otlp_json_writes_them(shipper, service):
    body = {
        "resourceLogs": [{
            "resource": {"attributes": [
                {"key": "service.name", "value": {"stringValue": "checkout"}},
                {"key": "deployment.environment", "value": {"stringValue": "production"}},
                {"key": "k8s.pod.name", "value": {"stringValue": "i-1"}},
            ]},
            "scopeLogs": [{"logRecords": [{
                "timeUnixNano": str(time.time_ns()),
                "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
                "body": {"stringValue": "sshd[2]: Accepted publickey for carol from 10.1.1.1 port 3 ssh2"},
            }]}],
        }]
    }  # fmt: skip
    response = shipper.post(LOGS, data=json.dumps(body), content_type="application/json")
    assert response.status_code == 200 and response.json() == {}
    assert service.instances.get().tainted


def test_more_points_than_the_batch_limit_is_413_and_stores_nothing(shipper, service, settings):
    settings.TELEMETRY_BATCH_LIMIT = 2
    response = _post(shipper, METRICS, _metrics("checkout"))
    assert response.status_code == 413
    assert "3 metric points" in status_pb2.Status.FromString(response.content).message
    assert not Sample.objects.exists() and not IngestBatch.objects.exists()


def test_the_batch_limit_counts_points_not_the_resources_heartbeats(shipper, service, settings):
    settings.TELEMETRY_BATCH_LIMIT = 3  # three points, and a heartbeat for their resource
    assert _post(shipper, METRICS, _metrics("checkout")).status_code == 200
    assert len(_samples(service)) == 4


def _histogram_request(bounds, counts, total_sum=0.0, kind="histogram") -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    scope = _resource(request.resource_metrics.add(), "checkout").scope_metrics.add()
    metric = scope.metrics.add(name="latency_ms", unit="ms")
    point = getattr(metric, kind).data_points.add(time_unix_nano=time.time_ns(), count=sum(counts), sum=total_sum)
    point.explicit_bounds.extend(bounds)
    point.bucket_counts.extend(counts)
    return request


@pytest.mark.parametrize(
    ("bounds", "counts", "p95"),
    [
        ([10, 20, 50], [0, 10, 0, 0], 19.5),  # all in (10, 20]: 10 + 10 × 9.5/10
        ([10, 20, 50], [50, 30, 20, 0], 42.5),  # rank 95 in (20, 50]: 20 + 30 × 15/20
        ([10, 20], [0, 0, 4], 20),  # in the overflow bucket: its lower bound, as Prometheus says
        ([10], [2, 0], 9.5),  # the first bucket starts at 0
    ],
)
def test_a_histogram_also_gives_its_95th_percentile(shipper, service, bounds, counts, p95):
    response = _post(shipper, METRICS, _histogram_request(bounds, counts))
    assert response.status_code == 200
    assert _samples(service)["latency_ms.p95"] == pytest.approx(p95)


def test_the_quantile_is_configurable_and_can_be_turned_off(shipper, service, settings):
    settings.TELEMETRY_HISTOGRAM_QUANTILE = 0.5
    _post(shipper, METRICS, _histogram_request([10, 20], [0, 10, 0]))
    assert _samples(service)["latency_ms.p50"] == pytest.approx(15)
    Sample.objects.all().delete()
    IngestBatch.objects.all().delete()
    settings.TELEMETRY_HISTOGRAM_QUANTILE = 0
    _post(shipper, METRICS, _histogram_request([10, 20], [0, 10, 0]))
    assert set(_samples(service)) == {"latency_ms.count", "latency_ms.sum"}


def test_a_summary_gives_its_count_sum_and_the_quantile_it_reports(shipper, service):
    request = ExportMetricsServiceRequest()
    scope = _resource(request.resource_metrics.add(), "checkout").scope_metrics.add()
    point = scope.metrics.add(name="rpc_ms").summary.data_points.add(time_unix_nano=time.time_ns(), count=5, sum=50)
    point.quantile_values.add(quantile=0.5, value=8)
    point.quantile_values.add(quantile=0.95, value=31)
    _post(shipper, METRICS, request)
    assert _samples(service) == {"rpc_ms.count": 5, "rpc_ms.sum": 50, "rpc_ms.p95": 31}
