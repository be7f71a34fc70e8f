"""Every query parameter of every list the schema documents, given what scripts and fuzzers send by
mistake: never a 5xx, and a 400 names the parameter it refuses."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.factories import BastionComponentFactory, UserFactory

pytestmark = pytest.mark.django_db

# Past a 64-bit key and SQLite's INTEGER, negative, empty, past a float, a NUL byte, a date with no such day.
HOSTILE = ["99999999999999999999", "-1", "", "1e400", "\x00", "2026-13-45"]


def _get_operations(client) -> dict[str, list[dict]]:
    schema = client.get("/api/schema/?format=json").json()
    return {
        path: [p for p in item["get"].get("parameters", []) if p["in"] == "query"]
        for path, item in schema["paths"].items()
        if "{" not in path and "get" in item
    }


def _valid_required(component) -> dict[str, dict[str, str]]:
    """A valid value for each required parameter, so that varying another one is what the answer is about."""
    return {
        "/api/v1/occurrences/": {"start": "2026-11-01", "end": "2026-12-01"},
        "/api/v1/calendar/state/": {"component": str(component.pk)},
    }


def test_every_documented_query_parameter_answers_hostile_values_with_at_most_a_400_naming_it():
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(UserFactory(username="prober", is_superuser=True))
    operations = _get_operations(client)
    valid = _valid_required(BastionComponentFactory())
    required = {path: {p["name"] for p in params if p.get("required")} for path, params in operations.items()}
    assert {path: names for path, names in required.items() if names} == {p: set(v) for p, v in valid.items()}
    assert sum(map(len, operations.values())) > 50  # the schema was read, not an empty list
    wrong = []
    for path, params in operations.items():
        for name in (p["name"] for p in params):
            for value in HOSTILE:
                response = client.get(path, {**valid.get(path, {}), name: value})
                if response.status_code >= 500:
                    wrong.append(f"{path}?{name}={value!r}: {response.status_code}")
                elif response.status_code == 400 and name not in response.json().get("errors", {}):
                    wrong.append(f"{path}?{name}={value!r}: 400 not naming it: {response.content[:200]!r}")
    assert wrong == []
