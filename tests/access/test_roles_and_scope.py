"""Roles as groups, and scoping: an operator of team A cannot roll, plan or change team B's components."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from estate.access import roles
from estate.access.models import AccessScope
from estate.access.scope import scope_of
from estate.inventory.models import Component
from estate.operations.models import Operation
from estate.patching.models import PatchWindow
from tests.conftest import user_with_role
from tests.factories import BastionComponentFactory, EnvironmentFactory, SystemFactory, TeamFactory, UserFactory
from tests.operations.conftest import make_component

pytestmark = pytest.mark.django_db


def _codenames(role: str) -> set[str]:
    return {f"{p.content_type.app_label}.{p.codename}" for p in Group.objects.get(name=role).permissions.all()}


def test_migrate_creates_the_three_roles_with_their_permissions():
    viewer, operator, admin = (_codenames(r) for r in (roles.VIEWER, roles.OPERATOR, roles.ADMIN))
    assert {"inventory.view_component", "patching.view_patchwindow", "operations.view_operation"} <= viewer
    assert all(code.split(".")[1].startswith("view_") for code in viewer)
    assert {"patching.add_patchwindow", "patching.change_occurrence", "operations.add_operation"} <= operator
    assert not {"inventory.add_component", "inventory.change_component", "patching.add_changefreeze"} & operator
    assert {"inventory.add_component", "inventory.delete_component", "auth.add_user", "access.change_apitoken",
            "operations.add_remediationpolicy", "patching.add_changefreeze"} <= admin  # fmt: skip
    assert viewer < operator < admin


def test_sync_is_idempotent_and_restores_drifted_permissions():
    group = Group.objects.get(name=roles.VIEWER)
    group.permissions.clear()
    roles.sync_roles()
    roles.sync_roles()
    assert Group.objects.filter(name__in=roles.ROLES).count() == 3
    assert "inventory.view_component" in _codenames(roles.VIEWER)


def test_role_of_names_the_strongest_role(viewer, operator, estate_admin, admin_user):
    assert [roles.role_of(u) for u in (viewer, operator, estate_admin, admin_user)] == [
        "viewer", "operator", "admin", "admin"]  # fmt: skip


@pytest.fixture
def teams():
    return TeamFactory(slug="team-a"), TeamFactory(slug="team-b")


@pytest.fixture
def scoped_operator(teams):
    user = user_with_role("op-a", roles.OPERATOR)
    AccessScope.objects.create(user=user).teams.add(teams[0])
    return user


@pytest.fixture
def scoped_admin(teams):
    user = user_with_role("admin-a", roles.ADMIN)
    AccessScope.objects.create(user=user).teams.add(teams[0])
    return user


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_operator_rolls_their_teams_component_not_another_teams(scoped_operator, teams, settings):
    ours, theirs = make_component(team=teams[0]), make_component(team=teams[1])
    api = _api(scoped_operator)
    assert api.post("/api/v1/operations/", {"kind": "roll_component", "component": ours.pk}).status_code == 202
    refused = api.post("/api/v1/operations/", {"kind": "roll_component", "component": theirs.pk})
    assert refused.status_code == 403
    assert "limited to some teams and systems" in refused.json()["detail"]
    assert not Operation.objects.filter(component=theirs).exists()


def test_the_ui_refuses_the_same_roll_and_hides_its_button(client, scoped_operator, teams):
    ours, theirs = make_component(team=teams[0]), make_component(team=teams[1])
    client.force_login(scoped_operator)
    assert 'data-testid="rebuild"' in client.get(f"/components/{ours.pk}/").content.decode()
    assert 'data-testid="rebuild"' not in client.get(f"/components/{theirs.pk}/").content.decode()
    refused = client.post(f"/components/{theirs.pk}/operations/", {"kind": "roll_component"})
    assert refused.status_code == 403
    assert not Operation.objects.filter(component=theirs).exists()


def test_operator_cannot_cancel_another_teams_operation(scoped_operator, teams, admin_user):
    theirs = make_component(team=teams[1])
    operation = _api(admin_user).post("/api/v1/operations/", {"kind": "roll_component", "component": theirs.pk})
    refused = _api(scoped_operator).post(f"/api/v1/operations/{operation.json()['id']}/cancel/")
    assert refused.status_code == 403
    assert Operation.objects.get().state != "cancelled"


def test_a_window_over_another_teams_database_is_refused(scoped_operator, teams):
    ours, theirs = BastionComponentFactory(team=teams[0]), BastionComponentFactory(team=teams[1])
    body = {"title": "Patch", "start": (timezone.now() + timedelta(days=2)).isoformat(), "duration": "01:00:00",
            "time_zone": "UTC", "change_kind": "minor_version"}  # fmt: skip
    api = _api(scoped_operator)
    refused = api.post("/api/v1/patch-windows/", {**body, "components": [ours.pk, theirs.pk]}, format="json")
    assert refused.status_code == 403 and not PatchWindow.objects.exists()
    created = api.post("/api/v1/patch-windows/", {**body, "components": [ours.pk]}, format="json")
    assert created.status_code == 201, created.json()
    # ... and may not widen it to the other team's database afterwards.
    widened = api.patch(f"/api/v1/patch-windows/{created.json()['id']}/", {"components": [ours.pk, theirs.pk]})
    assert widened.status_code == 403
    assert list(PatchWindow.objects.get().components.all()) == [ours]


def test_scoped_admin_cannot_move_a_component_out_of_or_into_their_scope(scoped_admin, teams):
    ours, theirs = BastionComponentFactory(team=teams[0]), BastionComponentFactory(team=teams[1])
    api = _api(scoped_admin)
    assert api.patch(f"/api/v1/components/{ours.pk}/", {"team": teams[1].slug}, format="json").status_code == 403
    assert api.patch(f"/api/v1/components/{theirs.pk}/", {"team": teams[0].slug}, format="json").status_code == 403
    assert api.delete(f"/api/v1/components/{theirs.pk}/").status_code == 403
    assert api.patch(f"/api/v1/components/{ours.pk}/", {"description": "ours"}, format="json").status_code == 200
    assert Component.objects.get(pk=theirs.pk).team == teams[1]


def test_the_component_form_refuses_the_same_edit(client, scoped_admin, teams):
    theirs = BastionComponentFactory(team=teams[1])
    client.force_login(scoped_admin)
    assert "Edit</a>" not in client.get(f"/components/{theirs.pk}/").content.decode()
    assert client.post(f"/components/{theirs.pk}/delete/").status_code == 403
    assert Component.objects.filter(pk=theirs.pk).exists()


def test_bulk_create_with_one_item_out_of_scope_creates_nothing(scoped_admin, teams):
    env = EnvironmentFactory()
    item = {"environment": env.slug, "category": "service", "mode": "immutable", "provider": "sandbox"}
    body = [
        {**item, "name": "a", "slug": "a", "team": teams[0].slug},
        {**item, "name": "b", "slug": "b", "team": teams[1].slug},
    ]
    response = _api(scoped_admin).post("/api/v1/components/", body, format="json")
    assert response.status_code == 403
    assert not Component.objects.filter(slug__in=["a", "b"]).exists()


def test_estate_wide_records_need_an_unscoped_role(scoped_admin, estate_admin):
    body = {"name": "Staging", "slug": "staging"}
    refused = _api(scoped_admin).post("/api/v1/environments/", body)
    assert refused.status_code == 403 and "whole estate" in refused.json()["detail"]
    assert _api(estate_admin).post("/api/v1/environments/", body).status_code == 201


def test_a_system_scope_covers_that_systems_components_whoever_their_team(teams):
    system = SystemFactory()
    user = user_with_role("op-sys", roles.OPERATOR)
    AccessScope.objects.create(user=user).systems.add(system)
    component = make_component(team=teams[1], system=system)
    response = _api(user).post("/api/v1/operations/", {"kind": "roll_component", "component": component.pk})
    assert response.status_code == 202


def test_grant_role_sets_the_role_and_its_limits(teams):
    user = UserFactory(username="alice")
    call_command("grant_role", "alice", "operator", "--team", "team-a", stdout=io.StringIO())
    user = type(user).objects.get(pk=user.pk)
    assert roles.role_of(user) == roles.OPERATOR
    assert scope_of(user).team_ids == {teams[0].pk}
    call_command("grant_role", "alice", "viewer", stdout=io.StringIO())
    user = type(user).objects.get(pk=user.pk)
    assert roles.role_of(user) == roles.VIEWER and scope_of(user) is None
    with pytest.raises(CommandError, match="No team with slug nope"):
        call_command("grant_role", "alice", "admin", "--team", "nope")
    assert roles.role_of(type(user).objects.get(pk=user.pk)) == roles.VIEWER


def test_demo_has_one_person_per_role():
    call_command("load_demo", stdout=io.StringIO())
    viewer, operator = (get_user_model().objects.get(username=u) for u in ("demo-viewer", "demo-operator"))
    assert roles.role_of(viewer) == roles.VIEWER and scope_of(viewer) is None
    assert roles.role_of(operator) == roles.OPERATOR and len(scope_of(operator).team_ids) == 1


def test_the_admin_site_is_closed_to_scoped_roles(client, teams, estate_admin):
    scoped = user_with_role("staff-a", roles.ADMIN, is_staff=True)
    AccessScope.objects.create(user=scoped).teams.add(teams[0])
    client.force_login(scoped)
    assert client.get("/admin/auth/user/").status_code == 302  # to the admin's log-in
    client.force_login(estate_admin)
    assert client.get("/admin/auth/user/").status_code == 200
    # Scopes are set on the person's page.
    page = client.get(f"/admin/auth/user/{scoped.pk}/change/")
    assert page.status_code == 200 and "access_scope-0-teams" in page.content.decode()
