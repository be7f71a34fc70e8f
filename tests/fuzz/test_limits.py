"""The size limits as configured (API_BULK_LIMIT, TELEMETRY_BATCH_LIMIT, TELEMETRY_MAX_BODY_BYTES): one item
over is a 413 in the error shape, and nothing is written."""

from __future__ import annotations

import json

from tests.fuzz.conftest import CONFIGURED_LIMITS, assert_error_shape, snapshot

COMPONENTS = "/api/v1/components/"
TELEMETRY = "/api/v1/telemetry/"


def _component(i: int) -> dict:
    return {"name": f"c{i}", "slug": f"c{i}", "environment": "production", "category": "service",
            "provider": "sandbox"}  # fmt: skip


def test_one_component_over_the_bulk_limit_is_413(admin_api, estate, settings):
    settings.API_BULK_LIMIT = CONFIGURED_LIMITS["API_BULK_LIMIT"]
    before = snapshot()
    items = [_component(i) for i in range(settings.API_BULK_LIMIT + 1)]
    response = admin_api.post(COMPONENTS, items, format="json")
    assert response.status_code == 413
    assert str(settings.API_BULK_LIMIT) in assert_error_shape(response)["detail"]
    assert snapshot() == before


def test_one_telemetry_item_over_the_batch_limit_is_413(shipper, estate, settings):
    settings.TELEMETRY_BATCH_LIMIT = CONFIGURED_LIMITS["TELEMETRY_BATCH_LIMIT"]
    before = snapshot()
    items = [{"type": "heartbeat", "component": "production/existing-api"}] * (settings.TELEMETRY_BATCH_LIMIT + 1)
    for body in (items, {"items": items}):
        response = shipper.post(TELEMETRY, body, format="json")
        assert response.status_code == 413
        assert_error_shape(response)
    assert snapshot() == before


def test_a_telemetry_body_over_the_byte_limit_is_413(shipper, estate, settings):
    settings.TELEMETRY_MAX_BODY_BYTES = 1000
    item = {"type": "event", "component": "production/existing-api", "kind": "deploy", "message": "x" * 400}
    body = json.dumps([item] * 3)
    assert len(body) > 1000
    before = snapshot()
    response = shipper.post(TELEMETRY, body, content_type="application/json")
    assert response.status_code == 413
    assert_error_shape(response)
    assert snapshot() == before


def test_a_malformed_content_length_is_not_a_5xx(shipper, estate):
    shipper.raise_request_exception = False
    before = snapshot()
    for length in ("abc", "-1", "1e3", " "):
        response = shipper.generic("POST", TELEMETRY, b"[]", content_type="application/json", CONTENT_LENGTH=length)
        assert response.status_code < 500, (length, response.status_code)
    assert snapshot() == before
