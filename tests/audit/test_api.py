"""/api/v1/audit/: read-only, filtered, paginated, documented, and only for who may read the audit."""

from __future__ import annotations

from rest_framework.test import APIClient

from estate.audit.models import AuditEvent
from tests.audit.factories import AuditEventFactory

URL = "/api/v1/audit/"


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_list_is_paginated_newest_first(api):
    first = AuditEventFactory(object_repr="first")
    second = AuditEventFactory(object_repr="second")
    body = api.get(URL).json()
    assert body["count"] == 2
    assert [e["id"] for e in body["results"]] == [second.pk, first.pk]
    assert set(body["results"][0]) == {"id", "at", "actor_id", "actor", "ip", "via", "action", "object_type",
                                       "object_id", "object_repr", "changes", "message"}  # fmt: skip


def test_retrieve(api):
    event = AuditEventFactory(changes={"name": ["a", "b"]})
    body = api.get(f"{URL}{event.pk}/").json()
    assert body["changes"] == {"name": ["a", "b"]}
    assert body["ip"] == "192.0.2.10"


def test_no_write_through_the_api(api):
    event = AuditEventFactory()
    assert api.post(URL, {"action": "login"}, format="json").status_code == 405
    assert api.patch(f"{URL}{event.pk}/", {"actor": "mallory"}, format="json").status_code == 405
    assert api.delete(f"{URL}{event.pk}/").status_code == 405
    assert AuditEvent.objects.get().actor == "alice"


def test_anonymous_and_users_without_the_permission_are_refused(outsider, auditor):
    AuditEventFactory()
    assert APIClient().get(URL).status_code in (401, 403)
    refused = _client(outsider).get(URL)
    assert refused.status_code == 403
    assert set(refused.json()) == {"detail", "errors"}
    assert _client(auditor).get(URL).status_code == 200


def test_bad_filter_answers_in_the_error_shape(api):
    response = api.get(URL, {"action": "explode"})
    assert response.status_code == 400
    assert "action" in response.json()["errors"]


def test_schema_documents_the_endpoint_and_its_filters(api):
    schema = api.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/audit/"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"actor", "action", "object_type", "object_id", "q", "since", "until", "page"} <= names
    assert "/api/v1/audit/{id}/" in schema["paths"]
    assert "post" not in schema["paths"]["/api/v1/audit/"]


def test_moments_with_any_offset_filter_in_utc(api):
    AuditEventFactory(object_repr="kept")
    far = api.get(URL, {"since": "0602-09-18T09:46:05+19:33"})
    assert far.status_code == 200
    assert [e["object_repr"] for e in far.json()["results"]] == ["kept"]
    edge = api.get(URL, {"since": "0001-01-01T00:00:00+10:00"})
    assert edge.status_code == 400
    assert "since" in edge.json()["errors"]
