from __future__ import annotations

import pytest
from django.test import override_settings
from django.urls import reverse
from rest_framework.test import APIClient

from tests.factories import IngestTokenFactory

pytestmark = pytest.mark.django_db
COMPONENTS = "/api/v1/components/"
INGEST_URL = "/api/v1/telemetry/"


@pytest.fixture
def shipper() -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {IngestTokenFactory().raw}")
    return client


def _burst(send, count: int) -> list[int]:
    return [send().status_code for _ in range(count)]


@override_settings(API_THROTTLE_RATE_USER="3/minute")
def test_a_burst_past_the_user_rate_gets_429_with_the_error_shape_and_retry_after(api):
    assert _burst(lambda: api.get(COMPONENTS), 3) == [200, 200, 200]
    response = api.get(COMPONENTS)
    assert response.status_code == 429
    assert set(response.json()) == {"detail", "errors"}
    assert "throttled" in response.json()["detail"].lower()
    assert 0 < int(response["Retry-After"]) <= 60


@override_settings(API_THROTTLE_RATE_USER="3/minute")
def test_each_user_has_their_own_budget(api, viewer_api):
    _burst(lambda: api.get(COMPONENTS), 3)
    assert api.get(COMPONENTS).status_code == 429
    assert viewer_api.get(COMPONENTS).status_code == 200


@override_settings(API_THROTTLE_RATE_USER="2/minute", API_THROTTLE_RATE_INGEST="5/minute")
def test_ingest_has_its_own_higher_rate(api):
    assert _burst(lambda: api.post(INGEST_URL, {"items": []}, format="json"), 5).count(429) == 0
    response = api.post(INGEST_URL, {"items": []}, format="json")
    assert response.status_code == 429
    assert "Retry-After" in response
    # Ingest spent its own budget, not the user's.
    assert _burst(lambda: api.get(COMPONENTS), 2) == [200, 200]
    assert api.get(COMPONENTS).status_code == 429


@override_settings(API_THROTTLE_RATE_INGEST="2/minute")
def test_an_ingest_token_is_throttled_by_the_token(shipper):
    assert _burst(lambda: shipper.post(INGEST_URL, {"items": []}, format="json"), 2).count(429) == 0
    assert shipper.post(INGEST_URL, {"items": []}, format="json").status_code == 429


@override_settings(API_THROTTLE_RATE_ANON="2/minute")
def test_anonymous_clients_are_throttled_by_address():
    client = APIClient()
    assert _burst(lambda: client.get(reverse("schema")), 2) == [200, 200]
    assert client.get(reverse("schema")).status_code == 429
    assert APIClient(REMOTE_ADDR="10.0.0.9").get(reverse("schema")).status_code == 200


def test_default_rates_leave_an_ordinary_burst_alone(api):
    assert set(_burst(lambda: api.get(COMPONENTS), 50)) == {200}


@override_settings(LOGIN_THROTTLE_RATE="3/minute")
def test_login_attempts_are_throttled_per_address(client):
    attempt = lambda: client.post(reverse("login"), {"username": "nobody", "password": "x"})  # noqa: E731
    assert _burst(attempt, 3) == [200, 200, 200]
    response = attempt()
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "Too many log-in attempts from your address" in response.content.decode()
