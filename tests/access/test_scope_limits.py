"""A scope is a limit while its row exists: an empty one covers nothing, and what it rests on cannot be deleted."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import ProtectedError
from django.utils import timezone
from rest_framework.test import APIClient

from estate.access import roles, scope
from estate.access.models import AccessScope, AccessScopeSystem, AccessScopeTeam, ApiToken
from estate.audit.models import AuditEvent
from estate.inventory.models import System, Team
from estate.operations.models import Operation
from estate.patching.models import PatchWindow
from tests.conftest import user_with_role
from tests.factories import SystemFactory, TeamFactory
from tests.operations.conftest import make_component

pytestmark = pytest.mark.django_db


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _days(n: int) -> str:
    return (timezone.now() + timedelta(days=n)).isoformat()


def _limited(username: str, role: str, *, teams=(), systems=()):
    user = user_with_role(username, role)
    row = AccessScope.objects.create(user=user)
    row.teams.set(teams)
    row.systems.set(systems)
    return user


@pytest.fixture
def team():
    return TeamFactory(slug="payments", name="payments")


# --- an empty scope --------------------------------------------------------------------------


def test_an_empty_scope_refuses_every_write_and_says_whom_to_ask(team, estate_admin):
    user = _limited("op-empty", roles.OPERATOR)
    component = make_component(team=team)
    refused = _api(user).post("/api/v1/operations/", {"kind": "roll_component", "component": component.pk})
    assert refused.status_code == 403
    detail = refused.json()["detail"]
    assert "scope is empty" in detail and estate_admin.username in detail
    assert not Operation.objects.exists()


def test_an_empty_scope_refuses_the_same_write_on_the_page(client, team):
    user = _limited("op-empty", roles.OPERATOR)
    component = make_component(team=team)
    client.force_login(user)
    assert 'data-testid="rebuild"' not in client.get(f"/components/{component.pk}/").content.decode()
    refused = client.post(f"/components/{component.pk}/operations/", {"kind": "roll_component"})
    assert refused.status_code == 403
    assert not Operation.objects.exists()


def test_an_empty_scope_closes_the_admin_site(client):
    user = _limited("staff-empty", roles.ADMIN)
    user.is_staff = True
    user.save()
    client.force_login(user)
    assert client.get("/admin/auth/user/").status_code == 302


def test_a_scope_that_loses_its_last_team_refuses_what_it_allowed(team):
    user = _limited("op-a", roles.OPERATOR, teams=[team])
    component = make_component(team=team)
    AccessScopeTeam.objects.filter(accessscope__user=user).delete()  # not through any service
    user = type(user).objects.get(pk=user.pk)
    refused = _api(user).post("/api/v1/operations/", {"kind": "roll_component", "component": component.pk})
    assert refused.status_code == 403 and "scope is empty" in refused.json()["detail"]


class _Orphan:
    """Something that belongs to no team or system (all([]) is true: it must not pass for "all mine")."""

    _meta = PatchWindow._meta

    def scope_targets(self, m2m=None) -> list:
        return []


def test_an_object_with_no_team_or_system_is_outside_every_limited_scope(team):
    user = _limited("op-a", roles.OPERATOR, teams=[team])
    orphan = _Orphan()
    assert "whole estate" in scope.refusal(user, orphan)
    assert not scope.allows(user, orphan)


# --- personal objects ------------------------------------------------------------------------


@pytest.mark.parametrize("teams", [True, False], ids=["limited", "empty"])
def test_a_limited_person_manages_their_own_tokens_and_feeds(team, teams):
    user = _limited("op-a", roles.OPERATOR, teams=[team] if teams else [])
    api = _api(user)
    body = {"name": "mine", "scope": "read", "expires_at": _days(30)}
    created = api.post("/api/v1/tokens/", body, format="json")
    assert created.status_code == 201, created.json()
    assert api.post(f"/api/v1/tokens/{created.json()['id']}/revoke/").status_code == 200
    feed = api.post("/api/v1/feed-tokens/", {"name": "calendar"}, format="json")
    assert feed.status_code == 201, feed.json()
    assert api.post(f"/api/v1/feed-tokens/{feed.json()['id']}/revoke/").status_code == 200


def test_a_personal_object_of_someone_else_is_refused_by_the_scope(team, estate_admin):
    user = _limited("admin-a", roles.ADMIN, teams=[team])
    theirs = ApiToken(user=estate_admin, name="x", scope="read")
    assert "another person" in scope.refusal(user, theirs)
    assert scope.refusal(user, ApiToken(user=user, name="x", scope="read")) == ""


# --- what a scope rests on -------------------------------------------------------------------


def test_nobody_deletes_the_team_a_scope_rests_on(team, admin_user):
    _limited("alice", roles.OPERATOR, teams=[team])
    _limited("bob", roles.OPERATOR, teams=[team, TeamFactory()])
    refused = _api(admin_user).delete(f"/api/v1/teams/{team.pk}/")
    assert refused.status_code == 409
    assert refused.json()["detail"] == "Team payments limits the access of alice, bob; change their access first."
    assert Team.objects.filter(pk=team.pk).exists()


def test_a_system_limited_admin_cannot_delete_their_own_system():
    system = SystemFactory(name="rt-sys", slug="rt-sys")
    user = _limited("admin-sys", roles.ADMIN, systems=[system])
    refused = _api(user).delete(f"/api/v1/systems/{system.pk}/")
    assert refused.status_code == 409 and "admin-sys" in refused.json()["detail"]
    assert System.objects.filter(pk=system.pk).exists()
    # ... and is still limited afterwards: estate-wide records stay out of reach.
    assert _api(user).post("/api/v1/tags/", {"name": "t", "slug": "t"}, format="json").status_code == 403


def test_a_team_deleted_past_the_services_is_still_protected(team):
    _limited("alice", roles.OPERATOR, teams=[team])
    with pytest.raises(ProtectedError):
        team.delete()
    assert AccessScopeTeam.objects.filter(team=team).exists()


def test_the_admin_site_refuses_to_delete_a_team_in_a_scope(client, team, admin_user):
    _limited("alice", roles.OPERATOR, teams=[team])
    client.force_login(admin_user)
    page = client.get(f"/admin/inventory/team/{team.pk}/delete/")
    assert page.status_code == 200
    assert "limits the access of alice" in page.content.decode()
    client.post(f"/admin/inventory/team/{team.pk}/delete/", {"post": "yes"})
    assert Team.objects.filter(pk=team.pk).exists()


def test_a_team_nobody_rests_on_is_deleted(admin_user):
    spare = TeamFactory()
    assert _api(admin_user).delete(f"/api/v1/teams/{spare.pk}/").status_code == 204


def test_after_the_access_is_changed_the_team_can_go(team, admin_user):
    alice = _limited("alice", roles.OPERATOR, teams=[team])
    other = TeamFactory()
    roles.grant(alice, roles.OPERATOR, teams=[other])
    assert _api(admin_user).delete(f"/api/v1/teams/{team.pk}/").status_code == 204
    assert not AccessScopeSystem.objects.exists()
    assert AuditEvent.objects.filter(action="role_changed", object_id=str(alice.pk)).exists()
