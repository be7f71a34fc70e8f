from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from estate.audit.choices import AuditAction
from estate.audit.models import AuditEvent
from estate.telemetry.models import Event, IngestBatch, Sample
from tests.factories import ImmutableComponentFactory, IngestTokenFactory, InstanceFactory
from tests.telemetry.conftest import URL


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_retries_store_the_batch_once():
    token = IngestTokenFactory()
    component = ImmutableComponentFactory()
    start = timezone.now().timestamp()
    items = [{"type": "sample", "component": component.pk, "name": "rps", "value": n, "timestamp": start - n}
             for n in range(500)]  # fmt: skip
    barrier = threading.Barrier(2)
    answers: list = []

    def send():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token.raw}")
        barrier.wait()
        try:
            answers.append(client.post(URL, items, format="json", HTTP_IDEMPOTENCY_KEY="same"))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [a.status_code for a in answers] == [201, 201]
    assert answers[0].json() == answers[1].json()
    assert Sample.objects.count() == 500
    assert IngestBatch.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_batches_tainting_one_instance_at_once_audit_it_once():
    token = IngestTokenFactory()
    component = ImmutableComponentFactory()
    InstanceFactory(component=component, external_id="i-1")
    barrier = threading.Barrier(4)
    answers: list = []

    def send(n: int):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token.raw}")
        item = {"type": "event", "component": component.pk, "instance": "i-1", "kind": "ssh_session",
                "message": f"session {n}"}  # fmt: skip
        barrier.wait()
        try:
            answers.append(client.post(URL, [item], format="json"))
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [a.status_code for a in answers] == [201] * 4
    assert sum(len(a.json()["tainted_instances"]) for a in answers) == 1
    assert AuditEvent.objects.filter(action=AuditAction.INSTANCE_TAINTED).count() == 1
    assert Event.objects.filter(tainted=True).count() == 1
