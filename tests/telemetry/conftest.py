from __future__ import annotations

import pytest
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
