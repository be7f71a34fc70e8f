from __future__ import annotations

import pytest
from django.utils import timezone

from estate.telemetry.health import evaluate_estate
from tests.factories import ImmutableComponentFactory, InstanceFactory

pytestmark = pytest.mark.django_db


def test_rules_are_created_through_the_api_with_the_model_rules(api):
    component = ImmutableComponentFactory()
    body = {"component": component.pk, "metric": "latency_p95_ms", "aggregation": "avg", "window_seconds": 300,
            "comparison": "above", "warn": 500, "critical": 2000, "unit": "ms"}  # fmt: skip
    assert api.post("/api/v1/metric-rules/", body, format="json").status_code == 201
    bad = {**body, "metric": "other", "warn": 3000}
    response = api.post("/api/v1/metric-rules/", bad, format="json")
    assert response.status_code == 400
    assert "critical" in response.json()["errors"]


def test_a_viewer_reads_rules_but_cannot_write_them(viewer_api):
    assert viewer_api.get("/api/v1/metric-rules/?category=service").status_code == 200
    assert viewer_api.post("/api/v1/metric-rules/", {}, format="json").status_code == 403


def test_history_is_listed_per_component(api):
    component = ImmutableComponentFactory()
    InstanceFactory(component=component, external_id="i-1", last_seen_at=timezone.now())
    ImmutableComponentFactory()
    evaluate_estate()
    rows = api.get(f"/api/v1/health-changes/?component={component.pk}").json()["results"]
    assert sorted((r["instance"] or "", r["from_state"], r["to_state"]) for r in rows) == [
        ("", "unknown", "healthy"),
        ("i-1", "unknown", "healthy"),
    ]


def test_grace_and_promql_are_set_through_the_api(api):
    component = ImmutableComponentFactory()
    url = f"/api/v1/component-telemetry/{component.pk}/"
    assert api.get(url).json()["grace_seconds"] is None
    response = api.patch(url, {"grace_seconds": 90, "promql": 'avg(up{job="x"})'}, format="json")
    assert response.status_code == 200
    assert response.json()["grace_seconds"] == 90
    assert api.patch(url, {"grace_seconds": -1}, format="json").status_code == 400


def test_the_chart_series_are_in_the_api(api):
    from estate.telemetry.models import Sample

    component = ImmutableComponentFactory()
    Sample.objects.create(component=component, name="http_error_rate", value=0.5, ts=timezone.now())
    (series,) = api.get(f"/api/v1/component-telemetry/{component.pk}/series/").json()
    assert series["metric"] == "http_error_rate" and series["points"][0][1] == 0.5
    assert series["critical"] == 0.1  # the service category's default rule


@pytest.mark.parametrize("suffix", ["", "series/"])
def test_a_component_telemetry_id_that_is_not_a_number_is_404(api, suffix):
    """Schemathesis: /component-telemetry/null,null/ was a 500 (int() of the id); now a 404."""
    response = api.get(f"/api/v1/component-telemetry/null,null/{suffix}")
    assert response.status_code == 404


def test_the_schema_says_a_health_change_may_have_no_instance(api):
    """A component-level change has `instance: null`; the schema said a non-null string."""
    schema = api.get("/api/schema/?format=json").json()
    assert schema["components"]["schemas"]["HealthChange"]["properties"]["instance"]["nullable"] is True
