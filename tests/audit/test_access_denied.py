"""Every refusal (403) of a known person or token is in the trail: who, method, path, why; anonymous 401s are not."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from estate.access import roles
from estate.access.models import AccessScope
from estate.audit.choices import AuditAction
from tests.audit.conftest import events, only_event
from tests.conftest import token_client, user_with_role
from tests.factories import TeamFactory
from tests.operations.conftest import make_component

pytestmark = pytest.mark.django_db


def _api(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def _denied(**filters):
    return only_event(action=AuditAction.ACCESS_DENIED, **filters)


def test_a_refused_permission_in_the_api_is_recorded(viewer):
    response = _api(viewer).post("/api/v1/teams/", {"name": "T", "slug": "t"}, format="json")
    assert response.status_code == 403
    event = _denied()
    assert (event.actor, event.actor_id, event.via) == ("viewer", viewer.pk, "session")
    assert event.changes == {"method": "POST", "path": "/api/v1/teams/", "reason": response.json()["detail"]}
    assert event.message == response.json()["detail"]


def test_a_refused_scope_in_the_api_is_recorded_with_its_reason():
    own, other = TeamFactory(), TeamFactory()
    user = user_with_role("op-a", roles.OPERATOR)
    AccessScope.objects.create(user=user).teams.add(own)
    theirs = make_component(team=other)
    response = _api(user).post("/api/v1/operations/", {"kind": "roll_component", "component": theirs.pk})
    assert response.status_code == 403
    assert "limited to some teams and systems" in _denied(actor="op-a").changes["reason"]


def test_a_refused_page_is_recorded(client, viewer):
    component = make_component()
    client.force_login(viewer)
    assert client.post(f"/components/{component.pk}/delete/").status_code == 403
    event = _denied(actor="viewer")
    assert event.changes["method"] == "POST" and event.changes["path"] == f"/components/{component.pk}/delete/"


def test_a_person_with_no_role_refused_by_the_middleware_is_recorded(client, outsider):
    client.force_login(outsider)
    assert client.get("/components/").status_code == 403
    assert _denied(actor="outsider").changes["reason"] == roles.NO_ROLE


def test_a_token_refused_for_its_scope_names_its_owner_and_token(estate_admin):
    response = token_client(estate_admin, "read").post("/api/v1/teams/", {"name": "T", "slug": "t"})
    assert response.status_code == 403
    event = _denied()
    assert event.actor == estate_admin.username and event.via.startswith("token:read token")
    assert event.changes["reason"] == "This token is read-only."


def test_anonymous_refusals_are_not_recorded(client):
    assert APIClient().post("/api/v1/teams/", {"name": "T", "slug": "t"}).status_code == 401
    assert client.get("/components/").status_code == 302
    assert not events(action=AuditAction.ACCESS_DENIED)


def test_a_refusal_costs_one_insert(viewer):
    api = _api(viewer)
    with CaptureQueriesContext(connection) as queries:
        assert api.post("/api/v1/teams/", {"name": "T", "slug": "t"}, format="json").status_code == 403
    inserts = [q["sql"] for q in queries if q["sql"].startswith("INSERT") and "audit_auditevent" in q["sql"]]
    assert len(inserts) == 1
