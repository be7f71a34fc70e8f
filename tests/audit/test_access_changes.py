"""Every change of a person's role or scope is in the trail, with what it was and what it became."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command

from estate.access import roles
from estate.access.models import AccessScope
from estate.audit.choices import AuditAction
from tests.audit.conftest import events, only_event
from tests.conftest import user_with_role
from tests.factories import TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_grant_role_records_the_role_and_scope_before_and_after():
    TeamFactory(slug="team-a")
    alice = UserFactory(username="alice")
    call_command("grant_role", "alice", "operator", "--team", "team-a", stdout=io.StringIO())
    first = only_event(action=AuditAction.ROLE_CHANGED)
    assert (first.object_type, first.object_id, first.actor) == ("auth.user", str(alice.pk), "manage.py grant_role")
    assert first.via == "command"
    assert first.changes["groups"] == [[], ["operator"]]
    assert first.changes["scope"] == ["whole estate", "limited"]
    assert first.changes["teams"] == [[], ["team-a"]]


def test_widening_to_the_whole_estate_is_explicit_and_recorded():
    team = TeamFactory(slug="team-a")
    alice = UserFactory(username="alice")
    roles.grant(alice, roles.OPERATOR, teams=[team])
    roles.grant(alice, roles.OPERATOR)
    assert not AccessScope.objects.filter(user=alice).exists()  # deleted, not left empty
    widened = events(action=AuditAction.ROLE_CHANGED)[-1]
    assert widened.changes == {"scope": ["limited", "whole estate"], "teams": [["team-a"], []]}
    assert "Widened to the whole estate" in widened.message


def test_granting_the_same_role_again_records_nothing():
    alice = UserFactory(username="alice")
    roles.grant(alice, roles.VIEWER)
    roles.grant(alice, roles.VIEWER)
    assert len(events(action=AuditAction.ROLE_CHANGED)) == 1


def _user_change_data(user, *, groups, scope_rows: list[dict], initial: int) -> dict:
    data = {
        "username": user.username,
        "is_active": "on",
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
        "groups": [g.pk for g in groups],
        "access_scope-TOTAL_FORMS": str(len(scope_rows)),
        "access_scope-INITIAL_FORMS": str(initial),
        "access_scope-MIN_NUM_FORMS": "0",
        "access_scope-MAX_NUM_FORMS": "1",
    }
    for n, row in enumerate(scope_rows):
        data.update({f"access_scope-{n}-{name}": value for name, value in row.items()})
    return data


def test_the_admin_sites_edit_of_a_person_records_the_widening(client, admin_user):
    team = TeamFactory(slug="team-a")
    alice = user_with_role("alice", roles.OPERATOR)
    row = AccessScope.objects.create(user=alice)
    row.teams.add(team)
    client.force_login(admin_user)
    operator, admin = Group.objects.get(name=roles.OPERATOR), Group.objects.get(name=roles.ADMIN)
    rows = [{"id": row.pk, "user": alice.pk, "teams": [team.pk], "DELETE": "on"}]
    data = _user_change_data(alice, groups=[operator, admin], scope_rows=rows, initial=1)
    response = client.post(f"/admin/auth/user/{alice.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert not AccessScope.objects.filter(user=alice).exists()
    event = only_event(action=AuditAction.ROLE_CHANGED)
    assert event.actor == admin_user.username and event.object_id == str(alice.pk)
    assert event.changes["groups"] == [["operator"], ["admin", "operator"]]
    assert event.changes["scope"] == ["limited", "whole estate"]
    assert "Widened" in event.message


def test_the_admin_sites_scope_inline_records_a_new_limit(client, admin_user):
    team = TeamFactory(slug="team-a")
    alice = user_with_role("alice", roles.ADMIN)
    client.force_login(admin_user)
    rows = [{"user": alice.pk, "teams": [team.pk]}]
    data = _user_change_data(alice, groups=[Group.objects.get(name=roles.ADMIN)], scope_rows=rows, initial=0)
    assert client.post(f"/admin/auth/user/{alice.pk}/change/", data).status_code == 302
    event = only_event(action=AuditAction.ROLE_CHANGED)
    assert event.changes == {"scope": ["whole estate", "limited"], "teams": [[], ["team-a"]]}


def test_the_admin_sites_edit_of_a_group_records_its_permissions(client, admin_user):
    viewer = Group.objects.get(name=roles.VIEWER)
    extra = Permission.objects.get(codename="add_component")
    client.force_login(admin_user)
    data = {"name": viewer.name, "permissions": [*viewer.permissions.values_list("pk", flat=True), extra.pk]}
    assert client.post(f"/admin/auth/group/{viewer.pk}/change/", data).status_code == 302
    event = only_event(action=AuditAction.ROLE_CHANGED)
    assert event.object_type == "auth.group"
    before, after = event.changes["permissions"]
    assert set(after) - set(before) == {"inventory.add_component"}
