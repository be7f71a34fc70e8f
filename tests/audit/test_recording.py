"""What is recorded for inventory, windows, freezes, policies and tokens: who, from where, what changed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from estate.access import services as access
from estate.audit.choices import AuditAction
from estate.audit.models import AuditEvent
from estate.audit.services import MASK
from estate.core.services import validated_save
from estate.inventory.models import Component
from estate.operations.models import RemediationPolicy
from estate.patching import services as patching
from estate.patching.models import ChangeFreeze, PatchWindow
from tests.audit.conftest import events, only_event
from tests.factories import BastionComponentFactory, EnvironmentFactory, ImmutableComponentFactory, UserFactory

COMPONENT = "inventory.component"


def _component_form(environment, **overrides) -> dict:
    data = {
        "name": "orders-db",
        "slug": "orders-db",
        "environment": environment.pk,
        "category": "database",
        "holds_state": "on",
        "mode": "bastion",
        "engine": "postgresql",
        "engine_version": "16.4",
        "heartbeat_period_seconds": "30",
    }
    data.update(overrides)
    return data


# --- components through the browser -----------------------------------------------------------


def test_component_created_in_the_browser_is_recorded_with_who_and_where(client, admin_user):
    client.force_login(admin_user)
    env = EnvironmentFactory()
    client.post(reverse("component_create"), _component_form(env), REMOTE_ADDR="198.51.100.7")
    component = Component.objects.get(slug="orders-db")
    event = only_event(object_type=COMPONENT, object_id=str(component.pk))
    assert event.action == AuditAction.CREATE
    assert (event.actor, event.actor_id, event.ip, event.via) == ("admin", admin_user.pk, "198.51.100.7", "session")
    assert event.object_repr == str(component)
    assert event.changes["name"] == "orders-db"
    assert event.changes["environment"] == env.pk
    assert "updated_at" not in event.changes


def test_component_changed_in_the_browser_records_only_the_changed_fields(client, admin_user):
    client.force_login(admin_user)
    component = BastionComponentFactory(name="orders-db", slug="orders-db", engine_version="16.4")
    form = _component_form(component.environment, engine_version="16.6", description="Primary orders store")
    client.post(reverse("component_edit", args=[component.pk]), form)
    event = only_event(object_type=COMPONENT, action=AuditAction.CHANGE)
    assert event.object_id == str(component.pk)
    assert event.changes["engine_version"] == ["16.4", "16.6"]
    assert event.changes["description"] == ["", "Primary orders store"]
    assert "name" not in event.changes and "updated_at" not in event.changes


def test_component_deleted_in_the_browser_keeps_a_snapshot(client, admin_user):
    client.force_login(admin_user)
    component = ImmutableComponentFactory(name="old-api")
    pk = component.pk
    client.post(reverse("component_delete", args=[pk]))
    assert not Component.objects.filter(pk=pk).exists()
    event = only_event(object_type=COMPONENT, action=AuditAction.DELETE)
    assert event.object_id == str(pk)
    assert event.object_repr == str(component)
    assert event.changes["name"] == "old-api"


def test_saving_without_a_change_records_nothing(db):
    component = ImmutableComponentFactory()
    validated_save(component)
    validated_save(Component.objects.get(pk=component.pk))
    assert not AuditEvent.objects.exists()


def test_many_to_many_changes_are_recorded_as_primary_keys(db):
    component = ImmutableComponentFactory()
    first, second = ImmutableComponentFactory(), ImmutableComponentFactory()
    validated_save(component, m2m={"depends_on": [second, first]})
    event = only_event(action=AuditAction.CHANGE)
    assert event.changes == {"depends_on": [[], sorted([first.pk, second.pk])]}
    validated_save(component, m2m={"depends_on": [first, second]})
    assert AuditEvent.objects.count() == 1


# --- components through the API ---------------------------------------------------------------


def test_api_create_change_and_delete_are_recorded(api, admin_user):
    env = EnvironmentFactory()
    body = {"name": "orders-api", "slug": "orders-api", "environment": env.slug, "category": "service",
            "mode": "immutable", "provider": "sandbox", "heartbeat_period_seconds": 30}  # fmt: skip
    created = api.post("/api/v1/components/", body, format="json")
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    api.patch(f"/api/v1/components/{pk}/", {"description": "Takes orders"}, format="json")
    api.delete(f"/api/v1/components/{pk}/")
    found = events(object_type=COMPONENT, object_id=str(pk))
    assert [e.action for e in found] == [AuditAction.CREATE, AuditAction.CHANGE, AuditAction.DELETE]
    assert found[1].changes == {"description": ["", "Takes orders"]}
    assert {e.actor for e in found} == {"admin"}


def test_api_bulk_create_records_one_event_per_component(api):
    env = EnvironmentFactory()
    items = [{"name": f"svc-{n}", "slug": f"svc-{n}", "environment": env.slug, "category": "service",
              "mode": "immutable", "provider": "sandbox"} for n in range(3)]  # fmt: skip
    response = api.post("/api/v1/components/", items, format="json")
    assert response.status_code == 201, response.content
    assert sorted(e.changes["slug"] for e in events(action=AuditAction.CREATE)) == ["svc-0", "svc-1", "svc-2"]


def test_api_bulk_create_that_is_refused_records_nothing(api):
    env = EnvironmentFactory()
    items = [{"name": "ok", "slug": "ok", "environment": env.slug, "category": "service", "mode": "immutable"},
             {"name": "bad", "slug": "bad", "environment": env.slug, "category": "database", "holds_state": True,
              "mode": "immutable"}]  # fmt: skip
    assert api.post("/api/v1/components/", items, format="json").status_code == 400
    assert not AuditEvent.objects.exists()


def test_token_request_is_recorded_as_the_token_owner_via_the_token(token_api, admin_user):
    env = EnvironmentFactory()
    body = {"name": "orders-api", "slug": "orders-api", "environment": env.slug, "category": "service",
            "mode": "immutable", "provider": "sandbox"}  # fmt: skip
    assert token_api.post("/api/v1/components/", body, format="json", REMOTE_ADDR="203.0.113.9").status_code == 201
    event = only_event(object_type=COMPONENT)
    assert (event.actor, event.actor_id, event.ip) == ("admin", admin_user.pk, "203.0.113.9")
    assert event.via.startswith("token")


def test_work_outside_a_request_is_recorded_as_the_system(db):
    component = ImmutableComponentFactory()
    component.description = "changed by a job"
    validated_save(component)
    event = only_event(action=AuditAction.CHANGE)
    assert (event.actor, event.actor_id, event.ip, event.via) == ("system", None, None, "worker")


# --- patch windows and freezes ------------------------------------------------------------------


def _window_body(component) -> dict:
    return {
        "title": "Orders weekly",
        "components": [component.pk],
        "start": (timezone.now() + timedelta(days=1)).isoformat(),
        "duration": "01:00:00",
        "time_zone": "UTC",
        "rrule": "",
    }


def test_patch_window_create_change_pause_and_delete_are_recorded(api):
    database = BastionComponentFactory()
    created = api.post("/api/v1/patch-windows/", _window_body(database), format="json")
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    api.patch(f"/api/v1/patch-windows/{pk}/", {"title": "Orders weekly patch"}, format="json")
    api.post(f"/api/v1/patch-windows/{pk}/pause/")
    api.delete(f"/api/v1/patch-windows/{pk}/")
    found = events(object_type="patching.patchwindow", object_id=str(pk))
    assert [e.action for e in found] == ["create", "change", "change", "delete"]
    assert found[0].changes["components"] == [database.pk]
    assert found[1].changes == {"title": ["Orders weekly", "Orders weekly patch"]}
    assert found[2].changes == {"paused": [False, True]}
    assert found[3].changes["title"] == "Orders weekly patch"


def test_patch_window_saved_in_the_browser_is_recorded(client, admin_user):
    client.force_login(admin_user)
    database = BastionComponentFactory()
    start = timezone.now() + timedelta(days=1)
    form = {"title": "Orders", "components": [database.pk], "start": start.strftime("%Y-%m-%dT%H:%M"),
            "time_zone": "UTC", "duration_minutes": 60, "rrule": "", "change_kind": "minor_version",
            "impact_kind": "none", "impact_seconds": 0, "runbook": ""}  # fmt: skip
    client.post(reverse("patch_window_create"), form)
    window = PatchWindow.objects.get()
    assert only_event(object_type="patching.patchwindow").object_id == str(window.pk)


def test_freeze_create_change_delete_through_the_api_are_recorded(api):
    start = timezone.now() + timedelta(days=3)
    body = {"name": "Black Friday", "scope": "all", "start": start.isoformat(),
            "end": (start + timedelta(days=2)).isoformat(), "reason": "Sales"}  # fmt: skip
    created = api.post("/api/v1/change-freezes/", body, format="json")
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    api.patch(f"/api/v1/change-freezes/{pk}/", {"reason": "Peak sales"}, format="json")
    assert api.delete(f"/api/v1/change-freezes/{pk}/").status_code == 204
    found = events(object_type="patching.changefreeze", object_id=str(pk))
    assert [e.action for e in found] == ["create", "change", "delete"]
    assert found[1].changes == {"reason": ["Sales", "Peak sales"]}


def test_freeze_added_in_the_browser_is_recorded(client, admin_user):
    client.force_login(admin_user)
    start = timezone.now() + timedelta(days=3)
    form = {"form": "freeze", "name": "Year end", "scope": "all", "start": start.strftime("%Y-%m-%dT%H:%M"),
            "end": (start + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"), "reason": "Closing"}  # fmt: skip
    client.post(reverse("freeze_list"), form)
    freeze = ChangeFreeze.objects.get()
    event = only_event(object_type="patching.changefreeze")
    assert (event.action, event.object_id, event.actor) == ("create", str(freeze.pk), "admin")


# --- operation policies ---------------------------------------------------------------------------


def test_policy_create_change_breaker_close_and_delete_are_recorded(api):
    component = ImmutableComponentFactory()
    created = api.post("/api/v1/remediation-policies/", {"component": component.pk}, format="json")
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    api.patch(f"/api/v1/remediation-policies/{pk}/", {"replace_tainted": True}, format="json")
    RemediationPolicy.objects.filter(pk=pk).update(failed_remediations=3, breaker_reason="3 failures")
    api.post(f"/api/v1/remediation-policies/{pk}/close-breaker/")
    assert api.delete(f"/api/v1/remediation-policies/{pk}/").status_code == 204
    found = events(object_type="operations.remediationpolicy", object_id=str(pk))
    assert [e.action for e in found] == ["create", "change", "change", "delete"]
    assert found[1].changes == {"replace_tainted": [False, True]}
    assert found[2].changes == {"failed_remediations": [3, 0], "breaker_reason": ["3 failures", ""]}


# --- tokens and secrets ----------------------------------------------------------------------------


def test_feed_token_create_and_revoke_are_recorded_without_the_secret(db):
    user = UserFactory()
    feed = patching.feed_token_create(user=user, name="My calendar", filters={})
    patching.feed_token_revoke(token=feed)
    assert only_event(object_type="patching.feedtoken").action == AuditAction.CREATE
    created, revoked = events(object_type="access.apitoken")
    assert created.changes["key_hash"] == MASK
    assert feed.secret not in str([event.changes for event in AuditEvent.objects.all()])
    assert revoked.changes["revoked_at"][0] is None


def test_sensitive_fields_are_masked_in_every_shape(db):
    from estate.audit.services import audit_record

    event = audit_record(
        action=AuditAction.CHANGE,
        object_type="auth.user",
        object_id=1,
        changes={"password": ["md5$old", "md5$new"], "token_hash": "abc", "key_hash": "def", "email": ["a", "b"]},
    )
    assert event.changes == {"password": [MASK, MASK], "token_hash": MASK, "key_hash": MASK, "email": ["a", "b"]}


def test_ingest_token_is_recorded_without_its_hash(db):
    from estate.telemetry.models import IngestToken

    token = IngestToken(name="shipper")
    raw = token.set_new_secret()
    validated_save(token)
    event = only_event(object_type="telemetry.ingesttoken")
    assert event.changes["token_hash"] == MASK
    assert token.token_hash not in str(event.changes) and raw not in str(event.changes)


@pytest.mark.django_db
def test_personal_api_token_is_recorded_without_its_hash():
    user = UserFactory()
    token, secret = access.token_create(
        user=user, name="ci", scope="read", expires_at=timezone.now() + timedelta(days=1)
    )
    event = only_event(object_type="access.apitoken", action=AuditAction.CREATE)
    assert event.changes["key_hash"] == MASK
    assert secret not in str(event.changes) and token.key_hash not in str(event.changes)


def test_changes_made_in_the_admin_site_are_recorded(admin_client):
    from estate.telemetry.models import IngestToken

    response = admin_client.post("/admin/telemetry/ingesttoken/add/", {"name": "shipper", "whole_estate": "on"})
    assert response.status_code == 302, response.content.decode()[:2000]
    token = IngestToken.objects.get()
    event = only_event(object_type="telemetry.ingesttoken")
    assert (event.action, event.object_id, event.actor, event.via) == ("create", str(token.pk), "admin", "session")
    assert event.message.startswith("In the admin site")


def test_the_admin_site_offers_no_unrecorded_bulk_delete(admin_client):
    page = admin_client.get("/admin/inventory/component/")
    assert page.status_code == 200
    assert "delete_selected" not in page.content.decode()
