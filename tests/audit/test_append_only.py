"""The audit trail is append-only: the app refuses, and PostgreSQL refuses too."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from estate.audit.models import AppendOnlyError, AuditEvent
from estate.core.services import validated_delete
from tests.audit.factories import AuditEventFactory
from tests.factories import ImmutableComponentFactory, UserFactory


def test_an_event_cannot_be_saved_again(db):
    event = AuditEventFactory()
    event.message = "rewritten"
    with pytest.raises(AppendOnlyError):
        event.save()


def test_an_event_cannot_be_deleted(db):
    event = AuditEventFactory()
    with pytest.raises(AppendOnlyError):
        event.delete()


@pytest.mark.parametrize("write", ["update", "delete"])
def test_querysets_refuse_bulk_changes(db, write):
    AuditEventFactory()
    queryset = AuditEvent.objects.all()
    with pytest.raises(AppendOnlyError):
        queryset.update(message="x") if write == "update" else queryset.delete()
    assert AuditEvent.objects.filter(message="").count() == 1


@pytest.mark.postgres
@pytest.mark.parametrize(
    "sql",
    ["UPDATE audit_auditevent SET actor = 'mallory'", "DELETE FROM audit_auditevent"],
)
def test_postgresql_refuses_raw_updates_and_deletes(db, sql):
    event = AuditEventFactory(actor="alice")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)
    assert AuditEvent.objects.get(pk=event.pk).actor == "alice"


def test_deleting_the_user_or_the_object_leaves_the_history(db):
    user = UserFactory()
    component = ImmutableComponentFactory()
    pk = component.pk
    earlier = AuditEventFactory(actor=user.username, actor_id=user.pk, object_id=str(pk))
    validated_delete(component)
    user.delete()
    assert AuditEvent.objects.filter(pk=earlier.pk, actor=user.username).exists()
    assert AuditEvent.objects.filter(object_id=str(pk), action="delete").exists()


def test_admin_is_read_only(admin_client, db):
    event = AuditEventFactory()
    assert admin_client.get("/admin/audit/auditevent/add/").status_code == 403
    page = admin_client.get(f"/admin/audit/auditevent/{event.pk}/change/")
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert admin_client.post(f"/admin/audit/auditevent/{event.pk}/delete/").status_code == 403
