"""Schemathesis against the API's own OpenAPI schema (issue 6, section 5): every operation, called
as an admin with a DRF token, never answers 5xx and always answers what the schema says.

The schema is loaded from the app itself (WSGI, in-process), so requests run in the test's own
database transaction. Bounded for CI: a few derandomized examples per operation (about 2 minutes
on SQLite, 3 on PostgreSQL, on 2 cores). No operation is excluded; the telemetry ingest is called
with an ingest token, every other operation with a superuser's DRF token. The 4xx answers the
schema documents come from estate/core/schema.py, so status codes are checked too.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from estate.wsgi import application
from tests.conftest import api_token
from tests.factories import IngestTokenFactory, UserFactory

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
INGEST_PATH = "/api/v1/telemetry/"


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    """The demo estate, loaded once for the module and rolled back after it.

    Each generated test runs in its own savepoint inside this transaction (pytest-django's `db`), so
    what one operation creates or deletes does not leak into the next, and nothing leaks out of the
    module. Loading the demo per operation would cost ~3 s x ~110 operations.
    """
    # Django's test client does the same: the real WSGI handler closes "old" connections around each
    # request, and on PostgreSQL a connection inside a transaction counts as old, ending the test's.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        with django_db_blocker.unblock(), transaction.atomic():
            call_command("load_demo", verbosity=0)
            admin = UserFactory(username="schemathesis-admin", is_staff=True, is_superuser=True)
            credentials = {
                "admin": f"Bearer {api_token(admin)}",
                # The ingest endpoint takes a person's token too, but its own credential is an
                # ingest token, so that is what it is fuzzed with (estate/telemetry/auth.py).
                "ingest": f"Bearer {IngestTokenFactory().raw}",
            }
            yield credentials
            transaction.set_rollback(True)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_schema(case, seeded, db):
    credential = seeded["ingest"] if case.path == INGEST_PATH else seeded["admin"]
    case.call_and_validate(headers={"Authorization": credential}, checks=CHECKS)
