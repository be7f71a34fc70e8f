"""PromQL health against a real Prometheus on loopback that scrapes Estate's own /metrics."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import pytest
import requests

from estate.inventory.choices import Health
from estate.telemetry.health import evaluate_estate
from estate.telemetry.models import ComponentTelemetry
from estate.telemetry.promql import promql_health
from tests.factories import ImmutableComponentFactory

PROMETHEUS = shutil.which("prometheus")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def prometheus(live_server, tmp_path):
    if PROMETHEUS is None:
        pytest.skip("needs the Prometheus server binary (Debian package `prometheus`; .ci/run installs it)")
    target = live_server.url.split("//")[1].replace("localhost", "127.0.0.1")
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"scrape_configs:\n  - job_name: estate\n    metrics_path: /metrics\n    static_configs:\n"
        f"      - targets: ['{target}']\n"
    )
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [PROMETHEUS, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}",
         f"--storage.tsdb.path={tmp_path / 'data'}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait(lambda: requests.get(f"{url}/-/ready", timeout=1).ok, 20, "Prometheus to start")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def _query(url: str, expression: str) -> list:
    return requests.get(f"{url}/api/v1/query", params={"query": expression}, timeout=2).json()["data"]["result"]


@pytest.mark.django_db(transaction=True)
def test_promql_health_from_a_real_prometheus_scraping_estate(prometheus, settings):
    settings.PROMETHEUS_URL = prometheus
    ImmutableComponentFactory(health=Health.DOWN, heartbeat_period_seconds=None)
    # Prometheus scrapes Estate's own /metrics: the target is up and Estate's series are there.
    _wait(lambda: _query(prometheus, 'up{job="estate"} == 1'), 30, "a successful scrape of /metrics")
    series = _wait(lambda: _query(prometheus, 'estate_components{health="down"}'), 30, "estate_components")
    assert float(series[0]["value"][1]) >= 1

    expressions = {
        'up{job="estate"}': Health.HEALTHY,
        'up{job="estate"} * 0.5': Health.DEGRADED,
        'up{job="estate"} - 1': Health.DOWN,
        'up{job="no-such-job"}': Health.UNKNOWN,
        "this is not promql(": Health.UNKNOWN,
    }
    components = {}
    for expression in expressions:
        component = ImmutableComponentFactory(heartbeat_period_seconds=60)
        ComponentTelemetry.objects.create(component=component, promql=expression)
        components[expression] = component
    evaluate_estate()
    for expression, expected in expressions.items():
        component = components[expression]
        component.refresh_from_db()
        assert component.health == expected, (expression, component.health_reason)
    assert "no data" in components['up{job="no-such-job"}'].health_reason
    assert "query failed" in components["this is not promql("].health_reason
    assert ComponentTelemetry.objects.get(component=components['up{job="estate"}']).promql_value == 1


def test_an_unreachable_prometheus_is_unknown_not_an_error(settings):
    settings.PROMETHEUS_URL = f"http://127.0.0.1:{_free_port()}"
    state, reason, value = promql_health("up")
    assert (state, value) == (Health.UNKNOWN, None)
    assert "query failed" in reason


def test_no_prometheus_url_is_unknown(settings):
    settings.PROMETHEUS_URL = ""
    assert promql_health("up")[0] == Health.UNKNOWN
