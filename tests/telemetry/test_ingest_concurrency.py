from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from estate.telemetry.models import IngestBatch, Sample
from tests.factories import ImmutableComponentFactory, IngestTokenFactory
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
