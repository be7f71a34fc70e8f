from __future__ import annotations

import pytest

from estate.inventory.choices import Health
from tests.factories import ImmutableComponentFactory
from tests.telemetry.conftest import URL

pytestmark = pytest.mark.django_db


def _value(text: str, series: str) -> float:
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{series} not exposed")


def test_metrics_expose_requests_ingest_health_and_queue(client, shipper):
    ImmutableComponentFactory(health=Health.DOWN)
    component = ImmutableComponentFactory()
    series = 'estate_telemetry_items_ingested_total{type="sample"}'
    before = client.get("/metrics").content.decode()
    already = _value(before, series) if series in before else 0
    items = [{"type": "sample", "component": component.pk, "name": f"x{n}", "value": 1} for n in range(3)]
    shipper.post(URL, items, format="json")
    text = client.get("/metrics").content.decode()
    assert _value(text, series) - already == 3
    assert _value(text, 'estate_components{health="down"}') == 1
    assert _value(text, 'estate_components{health="unknown"}') == 1
    assert 'estate_http_requests_total{method="POST",status="201",view="telemetry-list"}' in text
    assert "estate_celery_queue_depth" in text
    assert "estate_telemetry_batches_total" in text


def test_metrics_may_require_a_token(client, settings):
    settings.METRICS_TOKEN = "s3cret"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer s3cret"}).status_code == 200
