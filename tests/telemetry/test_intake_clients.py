"""Intake with real clients nobody here wrote: the OpenTelemetry SDK's OTLP/HTTP exporters, and a
Debian Prometheus that scrapes a real prometheus-node-exporter and remote-writes to Estate."""

from __future__ import annotations

import logging
import shutil
import subprocess

import pytest
import requests
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

from estate.audit.choices import AuditAction
from estate.audit.models import AuditEvent
from estate.inventory.choices import Health
from estate.inventory.models import Instance
from estate.telemetry.health import evaluate_estate
from estate.telemetry.models import ComponentTelemetry, Event, IngestBatch, Sample
from tests.factories import ImmutableComponentFactory, IngestTokenFactory, InstanceFactory
from tests.prometheus import free_port as _free_port
from tests.prometheus import wait as _wait

pytestmark = pytest.mark.django_db(transaction=True)

PROMETHEUS = shutil.which("prometheus")
NODE_EXPORTER = shutil.which("prometheus-node-exporter")


@pytest.fixture
def token():
    return IngestTokenFactory()


def _resource(instance: str) -> Resource:
    return Resource.create(
        {"service.name": "checkout", "deployment.environment.name": "production", "service.instance.id": instance}
    )


@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip])
def test_the_otel_sdk_exports_metrics_the_instance_beats_and_gets_samples(site, token, compression):
    component = ImmutableComponentFactory(slug="checkout", name="checkout")
    InstanceFactory(component=component, external_id="pod-1")
    exporter = OTLPMetricExporter(
        endpoint=f"{site}/v1/metrics", headers={"Authorization": f"Bearer {token.raw}"}, compression=compression
    )
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=60_000)
    provider = MeterProvider(metric_readers=[reader], resource=_resource("pod-1"))
    meter = provider.get_meter("estate-test")
    meter.create_counter("orders_total").add(3)
    meter.create_histogram("latency_ms", unit="ms").record(120)
    meter.create_histogram("latency_ms", unit="ms").record(80)
    meter.create_gauge("cpu_percent", unit="%").set(37.5)
    try:
        assert provider.force_flush(timeout_millis=10_000)
    finally:
        provider.shutdown()
    samples = dict(
        Sample.objects.filter(component=component, instance__external_id="pod-1").values_list("name", "value")
    )
    # 80 and 120 in the SDK's default buckets (75, 100] and (100, 250]: the 95th percentile is
    # interpolated in the second, 100 + 150 × 0.9.
    assert samples == {"orders_total": 3, "latency_ms.count": 2, "latency_ms.sum": 200, "latency_ms.p95": 235,
                       "cpu_percent": 37.5}  # fmt: skip
    assert Instance.objects.get(external_id="pod-1").last_seen_at is not None
    assert ComponentTelemetry.objects.get(component=component).last_heartbeat_at is not None


def test_the_otel_sdk_exporter_is_told_about_an_unknown_resource_and_stores_nothing(site, token):
    exporter = OTLPMetricExporter(endpoint=f"{site}/v1/metrics", headers={"Authorization": f"Bearer {token.raw}"})
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=60_000)
    provider = MeterProvider(metric_readers=[reader], resource=_resource("pod-1"))
    provider.get_meter("estate-test").create_counter("orders_total").add(1)
    try:
        provider.force_flush(timeout_millis=10_000)
    finally:
        provider.shutdown()
    # A partial success is a success to the exporter (it must not retry); nothing of it was stored,
    # and the answer it was given names the resource.
    assert not Sample.objects.exists()
    answers = [batch.response for batch in IngestBatch.objects.all()]  # force_flush, then shutdown's export
    assert answers and all(a["rejected"] == 1 for a in answers)
    assert "No component production/checkout" in answers[0]["message"]


def test_an_sshd_login_logged_through_the_otel_sdk_taints_the_immutable_instance(site, token, default_log_rules):
    component = ImmutableComponentFactory(slug="checkout", name="checkout")
    instance = InstanceFactory(component=component, external_id="pod-1")
    exporter = OTLPLogExporter(endpoint=f"{site}/v1/logs", headers={"Authorization": f"Bearer {token.raw}"})
    provider = LoggerProvider(resource=_resource("pod-1"))
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = logging.getLogger("test.sshd")
    logger.propagate = False
    handler = LoggingHandler(level=logging.INFO, logger_provider=provider)
    logger.addHandler(handler)
    try:
        logger.warning("sshd[4242]: Accepted publickey for alice from 10.0.0.7 port 50022 ssh2")
        logger.warning("nginx: GET /healthz 200")
        provider.force_flush()
    finally:
        logger.removeHandler(handler)
        provider.shutdown()
    instance.refresh_from_db()
    assert instance.tainted and "Accepted publickey for alice" in instance.taint_reason
    assert Event.objects.get().kind == "ssh_session"
    audit = AuditEvent.objects.get(action=AuditAction.INSTANCE_TAINTED, object_id=str(instance.pk))
    assert audit.actor == f"ingest-token:{token.name}"


# --- a real Prometheus remote-writing what it scrapes from a real node exporter -----------------


def _start(command: list[str]) -> subprocess.Popen:
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def node_exporter():
    if NODE_EXPORTER is None:
        pytest.skip("needs prometheus-node-exporter (Debian package; .ci/run installs it)")
    address = f"127.0.0.1:{_free_port()}"
    process = _start([NODE_EXPORTER, f"--web.listen-address={address}", "--collector.disable-defaults",
                      "--collector.loadavg", "--collector.time"])  # fmt: skip
    try:
        _wait(lambda: requests.get(f"http://{address}/metrics", timeout=1).ok, 20, "node exporter to start")
        yield address, process
    finally:
        _stop(process)


@pytest.fixture
def prometheus_writing(site, token, node_exporter, tmp_path):
    if PROMETHEUS is None:
        pytest.skip("needs the Prometheus server binary (Debian package `prometheus`; .ci/run installs it)")
    address, _ = node_exporter
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  external_labels:\n    environment: production\n"
        f"scrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['{address}']\n"
        f"remote_write:\n  - url: {site}/api/v1/telemetry/prometheus/write\n"
        f"    authorization:\n      credentials: {token.raw}\n"
        "    queue_config:\n      batch_send_deadline: 1s\n      min_backoff: 100ms\n      max_backoff: 1s\n"
    )
    port = _free_port()
    process = _start([PROMETHEUS, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}",
                      f"--storage.tsdb.path={tmp_path / 'data'}"])  # fmt: skip
    try:
        _wait(lambda: requests.get(f"http://127.0.0.1:{port}/-/ready", timeout=1).ok, 20, "Prometheus to start")
        yield address
    finally:
        _stop(process)


def test_prometheus_remote_write_from_a_node_exporter_turns_its_instance_healthy_then_down(
    prometheus_writing, node_exporter
):
    address, exporter_process = node_exporter
    component = ImmutableComponentFactory(slug="node", name="node", heartbeat_period_seconds=3)
    ComponentTelemetry.objects.create(component=component, grace_seconds=1)
    instance = InstanceFactory(component=component, external_id=address)

    _wait(lambda: Sample.objects.filter(instance=instance, name="node_load1").exists(), 30, "node_load1 samples")
    _wait(lambda: Instance.objects.get(pk=instance.pk).last_seen_at is not None, 30, "an up == 1 heartbeat")
    _wait(lambda: evaluate_estate() or True, 30, "an evaluation")  # retried while SQLite's tables are locked
    instance.refresh_from_db()
    assert instance.health == Health.HEALTHY, instance.health_reason

    _stop(exporter_process)  # the scrape fails: Prometheus writes up == 0, and heartbeats stop
    _wait(lambda: Sample.objects.filter(instance=instance, name="up", value=0).exists(), 30, "an up == 0 sample")

    def down() -> bool:
        evaluate_estate()
        return Instance.objects.get(pk=instance.pk).health == Health.DOWN

    _wait(down, 30, "the instance to turn down")
