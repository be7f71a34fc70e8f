from __future__ import annotations

import pytest

from estate.audit.choices import AuditAction
from estate.audit.models import AuditEvent
from estate.telemetry.models import Event
from tests.factories import BastionComponentFactory, ImmutableComponentFactory, InstanceFactory
from tests.telemetry.conftest import URL

pytestmark = pytest.mark.django_db


def _event(component, kind: str, instance: str = "i-1", message: str = "", ts: str | None = None) -> dict:
    item = {"type": "event", "component": component.pk, "instance": instance, "kind": kind, "message": message}
    if ts:
        item["timestamp"] = ts
    return item


@pytest.mark.parametrize("kind", ["ssh_session", "config_change", "package_install", "file_change"])
def test_a_mutation_event_taints_an_immutable_instance(shipper, kind):
    component = ImmutableComponentFactory()
    instance = InstanceFactory(component=component, external_id="i-1")
    response = shipper.post(URL, [_event(component, kind, message="by alice from 10.0.0.7")], format="json")
    assert response.status_code == 201
    assert response.json()["tainted_instances"] == ["i-1"]
    instance.refresh_from_db()
    assert instance.tainted and instance.tainted_at is not None
    assert instance.taint_reason.startswith(kind) and instance.taint_reason.endswith("by alice from 10.0.0.7")
    assert Event.objects.get().tainted


def test_the_same_event_on_a_bastion_is_only_recorded(shipper):
    db = BastionComponentFactory()
    node = InstanceFactory(component=db, external_id="i-1")
    response = shipper.post(URL, [_event(db, "ssh_session")], format="json")
    assert response.json()["tainted_instances"] == []
    node.refresh_from_db()
    assert not node.tainted
    event = Event.objects.get()
    assert event.kind == "ssh_session" and not event.tainted


def test_other_events_taint_nothing(shipper):
    component = ImmutableComponentFactory()
    instance = InstanceFactory(component=component, external_id="i-1")
    shipper.post(URL, [_event(component, "deploy"), _event(component, "restart")], format="json")
    instance.refresh_from_db()
    assert not instance.tainted


def test_the_first_mutation_is_the_reason_and_later_ones_keep_it(shipper):
    component = ImmutableComponentFactory()
    instance = InstanceFactory(component=component, external_id="i-1")
    batch = [
        _event(component, "file_change", message="second", ts="2026-11-26T10:05:00Z"),
        _event(component, "ssh_session", message="first", ts="2026-11-26T10:00:00Z"),
    ]
    shipper.post(URL, batch, format="json")
    shipper.post(URL, [_event(component, "package_install", message="third")], format="json")
    instance.refresh_from_db()
    assert instance.taint_reason.startswith("ssh_session") and instance.taint_reason.endswith("first")
    assert Event.objects.filter(tainted=True).count() == 1
    assert Event.objects.count() == 3


def test_a_mutation_without_an_instance_is_recorded_and_taints_nothing(shipper):
    component = ImmutableComponentFactory()
    instance = InstanceFactory(component=component, external_id="i-1")
    item = {"type": "event", "component": component.pk, "kind": "ssh_session"}
    assert shipper.post(URL, [item], format="json").status_code == 201
    instance.refresh_from_db()
    assert not instance.tainted


def test_a_tainted_instance_shows_up_as_a_finding(shipper):
    from estate.core.findings import finding_counts

    component = ImmutableComponentFactory()
    InstanceFactory(component=component, external_id="i-1")
    shipper.post(URL, [_event(component, "ssh_session")], format="json")
    assert finding_counts(kind="tainted-instance")["tainted-instance"] == 1


def test_a_taint_is_audited_naming_the_token_and_the_event(shipper, ingest_token):
    component = ImmutableComponentFactory()
    instance = InstanceFactory(component=component, external_id="i-1")
    batch = [_event(component, "deploy"), _event(component, "ssh_session", message="root from 10.0.0.7")]
    assert shipper.post(URL, batch, format="json", REMOTE_ADDR="10.1.2.3").status_code == 201
    record = AuditEvent.objects.get(action=AuditAction.INSTANCE_TAINTED)
    cause = Event.objects.get(kind="ssh_session")
    assert (record.actor, record.via, record.actor_id) == (f"ingest-token:{ingest_token.name}", "ingest-token", None)
    assert (record.object_type, record.object_id, record.object_repr) == ("inventory.instance", str(instance.pk), "i-1")
    assert record.changes["event"]["id"] == cause.pk and record.changes["event"]["kind"] == "ssh_session"
    assert record.changes["taint_reason"].endswith("root from 10.0.0.7") and record.changes["tainted"] is True
    assert f"event {cause.pk}" in record.message


def test_a_taint_sent_by_a_person_is_audited_as_that_person(api, admin_user):
    component = ImmutableComponentFactory()
    InstanceFactory(component=component, external_id="i-1")
    assert api.post(URL, [_event(component, "package_install")], format="json").status_code == 201
    record = AuditEvent.objects.get(action=AuditAction.INSTANCE_TAINTED)
    assert (record.actor, record.actor_id) == (admin_user.username, admin_user.pk)


def test_only_the_batch_that_taints_an_instance_audits_it(shipper):
    component = ImmutableComponentFactory()
    InstanceFactory(component=component, external_id="i-1")
    first = shipper.post(URL, [_event(component, "ssh_session")], format="json")
    again = shipper.post(URL, [_event(component, "file_change")], format="json")
    assert first.json()["tainted_instances"] == ["i-1"] and again.json()["tainted_instances"] == []
    assert AuditEvent.objects.filter(action=AuditAction.INSTANCE_TAINTED).count() == 1
    assert Event.objects.filter(tainted=True).count() == 1


def test_many_taints_are_audited_in_one_insert(shipper, django_assert_max_num_queries):
    component = ImmutableComponentFactory()
    for n in range(40):
        InstanceFactory(component=component, external_id=f"i-{n}")
    batch = [_event(component, "ssh_session", instance=f"i-{n}") for n in range(40)]
    with django_assert_max_num_queries(14):
        assert len(shipper.post(URL, batch, format="json").json()["tainted_instances"]) == 40
    assert AuditEvent.objects.filter(action=AuditAction.INSTANCE_TAINTED).count() == 40


def test_a_refused_batch_audits_no_taint(shipper):
    component = ImmutableComponentFactory()
    InstanceFactory(component=component, external_id="i-1")
    batch = [_event(component, "ssh_session"), {"type": "event", "component": component.pk, "kind": "BAD"}]
    assert shipper.post(URL, batch, format="json").status_code == 400
    assert not AuditEvent.objects.filter(action=AuditAction.INSTANCE_TAINTED).exists()
