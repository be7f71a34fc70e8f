"""The bugs the fuzz tests found, each as its minimal payload (each was a 500 or a wrong error shape)."""

from __future__ import annotations

import pytest

from estate.inventory.models import Component
from estate.telemetry.models import Event, Sample
from tests.fuzz.conftest import assert_error_shape, snapshot

COMPONENTS = "/api/v1/components/"
TELEMETRY = "/api/v1/telemetry/"
VALID = {"name": "a", "slug": "a", "environment": "production", "category": "service", "provider": "sandbox"}


def _post_raw(client, url: str, text: str):
    return client.post(url, text.encode(), content_type="application/json")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("environment", '"prod\\u0000uction"'),  # was DataError: PostgreSQL text fields cannot contain NUL
        ("tags", '["web\\u0000"]'),
        ("system", '"\\u0000"'),
        ("depends_on", "[1e400]"),  # was OverflowError: cannot convert float infinity to integer
        ("category", '"\\ud800"'),  # was UnicodeEncodeError: the message quotes the lone surrogate
        ("environment", '"\\udfff"'),
    ],
)
def test_a_component_field_postgresql_cannot_hold_is_a_400_on_that_field(admin_api, estate, field, value):
    text = '[{"name": "a", "slug": "a", "environment": "production", "category": "service", "provider": "sandbox", '
    response = _post_raw(
        admin_api, COMPONENTS, text.replace(f'"{field}": "production", ', "") + f'"{field}": {value}}}]'
    )
    body = assert_error_shape(response)
    assert response.status_code == 400
    assert field in body["errors"]["0"]
    assert not Component.objects.filter(slug="a").exists()


@pytest.mark.parametrize("value", ["true", "1.5"])
def test_true_or_a_fraction_is_not_read_as_component_id_1(admin_api, estate, value):
    text = '[{"name": "a", "slug": "a", "environment": "production", "category": "service", "provider": "sandbox", '
    response = _post_raw(admin_api, COMPONENTS, text + f'"depends_on": [{value}]}}]')
    assert response.status_code == 400
    assert "depends_on" in assert_error_shape(response)["errors"]["0"]


def test_a_null_item_in_a_bulk_is_named_by_its_index_like_any_other(admin_api, estate):
    response = admin_api.post(COMPONENTS, [VALID, None], format="json")
    body = assert_error_shape(response)
    assert body["errors"] == {"1": {"non_field_errors": ["This field may not be null."]}}
    assert not Component.objects.filter(slug="a").exists()


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ('{"type": "heartbeat", "component": "production/existing-api", "instance": "i-1\\u0000"}', "instance"),
        ('{"type": "heartbeat", "component": "production/existing-api", "instance": "\\ud800"}', "instance"),
        ('{"type": "heartbeat", "component": "production/exist\\u0000ing-api"}', "component"),
        ('{"type": "heartbeat", "component": "\\ud800/existing-api"}', "component"),
        ('{"type": "sample", "component": "production/existing-api", "name": "a", "value": 1, "unit": "\\u0000"}',
         "unit"),  # was a 500 from COPY
        ('{"type": "sample", "component": "production/existing-api", "name": "a", "value": 1, "unit": "\\ud800"}',
         "unit"),
        ('{"type": "event", "component": "production/existing-api", "kind": "deploy", "message": "a\\u0000"}',
         "message"),
        ('{"type": "event", "component": "production/existing-api", "kind": "deploy", "message": "\\ud800"}',
         "message"),
        ('{"type": "sample", "component": "production/existing-api", "name": "a", "value": 1' + "0" * 400 + "}",
         "value"),  # was OverflowError: int too large to convert to float
    ],
)  # fmt: skip
def test_a_telemetry_item_postgresql_cannot_hold_is_a_400_on_that_field(shipper, estate, item, field):
    before = snapshot()
    valid = '{"type": "sample", "component": "production/existing-api", "name": "cpu", "value": 1}'
    response = _post_raw(shipper, TELEMETRY, f"[{valid}, {item}]")
    body = assert_error_shape(response)
    assert response.status_code == 400
    assert list(body["errors"]) == ["1"]
    assert field in body["errors"]["1"]
    assert snapshot() == before
    assert not Sample.objects.exists()
    assert not Event.objects.exists()


def test_a_content_length_that_is_not_a_number_is_not_a_500(shipper, estate):
    response = shipper.generic("POST", TELEMETRY, b"[]", content_type="application/json", CONTENT_LENGTH="abc")
    assert response.status_code < 500
