from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from estate.inventory.choices import Health
from estate.telemetry.health import evaluate_estate
from estate.telemetry.models import Sample
from tests.factories import ImmutableComponentFactory, InstanceFactory, MetricRuleFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def component():
    component = ImmutableComponentFactory(heartbeat_period_seconds=30)
    InstanceFactory(component=component, external_id="i-ok", last_seen_at=timezone.now())
    InstanceFactory(component=component, external_id="i-dead", last_seen_at=timezone.now() - timedelta(hours=1))
    MetricRuleFactory(component=component, metric="http_error_rate", warn=0.05, critical=0.2)
    now = timezone.now()
    Sample.objects.bulk_create(
        [Sample(component=component, name="http_error_rate", value=0.01, ts=now - timedelta(minutes=m))
         for m in range(0, 120, 5)]
    )  # fmt: skip
    evaluate_estate()
    return component


def test_the_component_page_shows_health_reason_history_instances_and_chart(client, viewer, component):
    client.force_login(viewer)
    html = client.get(f"/components/{component.pk}/").content.decode()
    assert 'data-testid="health-panel"' in html
    assert "1 of 2 instances down" in html
    assert 'data-testid="health-history"' in html
    assert "i-dead" in html and "no heartbeat within the period and grace" in html
    assert 'hx-trigger="every 30s"' in html
    data = json.loads(
        re.search(r'<script id="health-chart-data" type="application/json">(.*?)</script>', html, re.S)[1]
    )
    series = {s["metric"]: s for s in data}
    assert series["http_error_rate"]["warn"] == 0.05 and series["http_error_rate"]["critical"] == 0.2
    assert len(series["http_error_rate"]["points"]) >= 20
    assert "js/telemetry.js" in html
    # No inline script: every <script> has a src, or is JSON data.
    for tag in re.findall(r"<script[^>]*>", html):
        assert "src=" in tag or 'type="application/json"' in tag


def test_the_panel_refreshes_alone(client, viewer, component):
    client.force_login(viewer)
    response = client.get(f"/components/{component.pk}/health/", headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and 'data-testid="health-state"' in html


def test_the_panel_costs_a_fixed_number_of_queries(client, viewer, component, django_assert_max_num_queries):
    client.force_login(viewer)
    with django_assert_max_num_queries(14):
        response = client.get(f"/components/{component.pk}/health/")
    assert response.status_code == 200 and 'data-testid="health-state"' in response.content.decode()


def test_readiness_is_shown_for_immutable_components(client, viewer, component):
    client.force_login(viewer)
    html = client.get(f"/components/{component.pk}/health/").content.decode()
    assert "Ready for immutability" in html
    assert "All instances reporting (1 of 2)" in html


def test_the_panel_needs_a_login(client, component):
    assert client.get(f"/components/{component.pk}/health/").status_code == 302


def test_the_dashboard_has_health_tiles_linking_to_the_filtered_inventory(client, viewer, component):
    client.force_login(viewer)
    html = client.get("/").content.decode()
    assert 'data-testid="health-tiles"' in html
    for state in Health.values:
        assert f'href="/components/?health={state}"' in html
    assert re.search(r'data-testid="health-degraded">1<', html)
    tiles = client.get("/health/tiles/").content.decode()
    assert 'hx-trigger="every 30s"' in tiles and "<html" not in tiles


def test_the_inventory_filter_agrees_with_the_tile(client, viewer, component):
    client.force_login(viewer)
    html = client.get("/components/?health=degraded").content.decode()
    assert component.name in html
