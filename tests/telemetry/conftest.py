from __future__ import annotations

import importlib

import pytest
from django.apps import apps as django_apps
from rest_framework.test import APIClient

from tests.factories import IngestTokenFactory

URL = "/api/v1/telemetry/"


@pytest.fixture
def ingest_token(db):
    return IngestTokenFactory()


@pytest.fixture
def shipper(ingest_token) -> APIClient:
    """A client that holds an ingest token and nothing else."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {ingest_token.raw}")
    return client


@pytest.fixture
def default_log_rules():
    """The log rules migration 0004 creates: a transactional test's flush empties the table, so put them back."""
    migration = importlib.import_module("estate.telemetry.migrations.0004_log_rules")
    migration.add_default_rules(django_apps, None)
