"""Issue 16: ?format=ndjson streams every matching row of the big lists, one JSON object a line, in id order,
each line the object the list would show; filters apply; bad input is still a 400 in JSON."""

from __future__ import annotations

import json

import pytest
from django.test import override_settings

from estate.audit.models import AuditEvent
from estate.core import listing
from estate.inventory.models import Instance
from tests.factories import ImmutableComponentFactory

pytestmark = pytest.mark.django_db


def _lines(response) -> list[dict]:
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-ndjson"
    body = b"".join(response.streaming_content)
    assert body.endswith(b"\n") or not body
    return [json.loads(line) for line in body.splitlines()]


@pytest.fixture
def instances(db, monkeypatch):
    monkeypatch.setattr(listing, "EXPORT_CHUNK", 3)  # several chunks from a few rows
    web, db_ = ImmutableComponentFactory(slug="web"), ImmutableComponentFactory(slug="db")
    rows = [Instance(component=web if n % 2 else db_, external_id=f"i-{n:02d}") for n in range(8)]
    return Instance.objects.bulk_create(rows)


@pytest.mark.parametrize("fast", [True, False])
def test_an_export_streams_every_row_once_in_id_order_as_the_list_shows_it(api, instances, fast):
    with override_settings(API_VALUES_LISTS=fast):
        exported = _lines(api.get("/api/v1/instances/", {"format": "ndjson"}))
    listed = api.get("/api/v1/instances/", {"page_size": 1000}).json()["results"]
    assert [row["id"] for row in exported] == sorted(row["id"] for row in listed)
    assert sorted(exported, key=lambda row: row["id"]) == sorted(listed, key=lambda row: row["id"])


def test_filters_apply_to_an_export(api, instances):
    web = instances[1].component_id
    exported = _lines(api.get("/api/v1/instances/", {"format": "ndjson", "component": web}))
    assert len(exported) == 4 and {row["component"] for row in exported} == {web}


def test_an_export_of_nothing_is_an_empty_body(api):
    assert _lines(api.get("/api/v1/audit/", {"format": "ndjson", "action": "delete"})) == []


def test_bad_input_to_an_export_is_a_400_in_json_naming_the_parameter(api, instances):
    response = api.get("/api/v1/instances/", {"format": "ndjson", "ordering": "nonexistent"})
    assert response.status_code == 400 and "ordering" in response.json()["errors"]


def test_lists_without_an_export_refuse_the_format_as_before(api):
    assert api.get("/api/v1/teams/", {"format": "ndjson"}).status_code == 404


def test_an_outsider_exports_nothing(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("outsider"))
    AuditEvent.objects.bulk_create([AuditEvent(action="create")])
    assert client.get("/api/v1/audit/", {"format": "ndjson"}).status_code == 403
