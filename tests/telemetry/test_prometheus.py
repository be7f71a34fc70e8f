"""PromQL health against a real Prometheus on loopback that scrapes Estate's own /metrics."""

from __future__ import annotations

import pytest

from estate.inventory.choices import Health
from estate.telemetry.health import evaluate_estate
from estate.telemetry.models import ComponentTelemetry
from estate.telemetry.promql import promql_health
from tests.factories import ImmutableComponentFactory
from tests.prometheus import free_port, running_prometheus
from tests.prometheus import query as _query
from tests.prometheus import wait as _wait


@pytest.fixture
def prometheus(live_server, tmp_path):
    target = live_server.url.split("//")[1].replace("localhost", "127.0.0.1")
    with running_prometheus(tmp_path, {"estate": target}) as url:
        yield url


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
    settings.PROMETHEUS_URL = f"http://127.0.0.1:{free_port()}"
    state, reason, value = promql_health("up")
    assert (state, value) == (Health.UNKNOWN, None)
    assert "query failed" in reason


def test_no_prometheus_url_is_unknown(settings):
    settings.PROMETHEUS_URL = ""
    assert promql_health("up")[0] == Health.UNKNOWN
