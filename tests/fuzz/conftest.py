"""What every fuzz test of a bulk endpoint shares: a small seeded estate, clients, and the oracles.

Hypothesis runs many examples inside one pytest test, so inside one database transaction: each
example runs in a savepoint of its own (`isolated`) and is rolled back after, so every example
starts from the same seeded estate and what one example writes never decides the next one.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.apps import apps
from django.conf import settings as django_settings
from django.db import connection, transaction
from hypothesis import HealthCheck, Phase, settings
from rest_framework.test import APIClient

from tests.factories import (
    BastionComponentFactory,
    ClusterFactory,
    EnvironmentFactory,
    ImmutableComponentFactory,
    IngestTokenFactory,
    InstanceFactory,
    SystemFactory,
    TagFactory,
    TeamFactory,
)

# Bounded for CI: derandomized (the same examples every run), no example database on disk, and no
# shrinking unless FUZZ_SHRINK=1: each example costs a request and a snapshot, so shrinking a
# failure can take minutes; the regression tests in test_regressions.py hold the minimal payloads.
PHASES = list(Phase) if os.environ.get("FUZZ_SHRINK") else [Phase.explicit, Phase.generate]
FUZZ = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    phases=PHASES,
    report_multiple_bugs=False,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

# The apps whose tables a bulk endpoint may write (directly, or by a bug).
WATCHED_APPS = ("core", "inventory", "telemetry", "patching", "operations")
# Written by authentication on any request (at most once a minute), not by the endpoint.
UNWATCHED_MODELS = {"telemetry.ingesttoken"}

# Small limits so an over-limit batch is cheap to build; test_limits checks the configured ones.
FUZZ_BULK_LIMIT = 8
CONFIGURED_LIMITS = {
    name: getattr(django_settings, name)
    for name in ("API_BULK_LIMIT", "TELEMETRY_BATCH_LIMIT", "TELEMETRY_MAX_BODY_BYTES")
}


def watched_models():
    for label in WATCHED_APPS:
        for model in apps.get_app_config(label).get_models(include_auto_created=True):
            if model._meta.label_lower not in UNWATCHED_MODELS:
                yield model


def _table_states() -> dict[str, tuple[int, str]]:
    """(rows, digest of every row) of each watched table, in one query: examples are many, tables too."""
    models = list(watched_models())
    quote = connection.ops.quote_name
    if connection.vendor == "postgresql":
        state = "(SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM {} t)"
        columns = ", ".join(state.format(quote(model._meta.db_table)) for model in models)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {columns}")  # noqa: S608 -- table names from the models, not input
            row = cursor.fetchone()
        states = [value.split(":", 1) for value in row]
        return {m._meta.label_lower: (int(n), digest) for m, (n, digest) in zip(models, states, strict=True)}
    return {
        m._meta.label_lower: (m._base_manager.count(), repr(list(m._base_manager.order_by("pk").values_list())))
        for m in models
    }


def row_counts() -> dict[str, int]:
    return {label: rows for label, (rows, _) in _table_states().items()}


def snapshot() -> dict[str, tuple[int, str]]:
    """Every row of every watched table: a 4xx must leave all of it exactly as it was."""
    return _table_states()


@contextmanager
def isolated() -> Iterator[None]:
    """One example in a savepoint, rolled back after: the next example sees the seeded estate again."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


def assert_error_shape(response) -> dict:
    """A 4xx in the project's one error shape: {"detail": str, "errors": {...}}."""
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert isinstance(body, dict), body
    assert set(body) == {"detail", "errors"}, body
    assert isinstance(body["detail"], str), body
    assert body["detail"], body
    assert isinstance(body["errors"], dict), body
    return body


def assert_item_errors(body: dict, expected: dict[int, str | None]) -> None:
    """Each item known to be bad is named by its index, with the field (when the test knows it)."""
    errors = body["errors"]
    for index, field in expected.items():
        assert str(index) in errors, (index, field, body)
        assert isinstance(errors[str(index)], dict), body
        if field is not None:
            assert field in errors[str(index)], (index, field, body)


def assert_no_5xx(response, payload) -> None:
    assert response.status_code < 500, (response.status_code, response.content[:500], payload)


@pytest.fixture(autouse=True)
def fuzz_settings(settings):
    """No throttling and a cache of its own: hundreds of requests per test, nothing shared with Redis."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": uuid.uuid4().hex}
    }
    settings.API_THROTTLE_RATE_USER = ""
    settings.API_THROTTLE_RATE_ANON = ""
    settings.API_THROTTLE_RATE_INGEST = ""
    settings.API_BULK_LIMIT = FUZZ_BULK_LIMIT
    settings.TELEMETRY_BATCH_LIMIT = FUZZ_BULK_LIMIT
    return settings


@pytest.fixture
def estate(db):
    """Two environments, the slugs the strategies refer to, and one component of each mode with instances."""
    production = EnvironmentFactory(slug="production", name="Production")
    staging = EnvironmentFactory(slug="staging", name="Staging", is_production=False)
    team = TeamFactory(slug="payments", name="Payments")
    system = SystemFactory(slug="orders", name="Orders", owner=team)
    for slug in ("web", "db"):
        TagFactory(name=slug, slug=slug)
    ClusterFactory(name="pg-main", slug="pg-main", environment=production, system=system)
    service = ImmutableComponentFactory(
        name="existing-api", slug="existing-api", environment=production, system=system, team=team
    )
    database = BastionComponentFactory(
        name="existing-db", slug="existing-db", environment=staging, system=system, team=team
    )
    InstanceFactory(component=service, external_id="i-1")
    InstanceFactory(component=service, external_id="i-2")
    InstanceFactory(component=database, external_id="db-1")
    from estate.telemetry.models import ComponentTelemetry

    # Every component already has its telemetry row: a heartbeat then adds none, so counts are exact.
    for component in (service, database):
        ComponentTelemetry.objects.get_or_create(component=component)
    return {"service": service, "database": database}


@pytest.fixture
def admin_api(admin_user) -> APIClient:
    client = APIClient()
    client.force_authenticate(admin_user)
    return client


@pytest.fixture
def shipper(db) -> APIClient:
    """A telemetry agent: an ingest token and nothing else."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {IngestTokenFactory().raw}")
    return client
