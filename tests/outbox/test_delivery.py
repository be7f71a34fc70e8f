"""The outbox sends each side effect once its change commits, retries with backoff, and says where it stands."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone
from rest_framework.test import APIClient

from estate.outbox import registry, services
from estate.outbox.choices import MessageState
from estate.outbox.models import OutboxMessage

pytestmark = pytest.mark.django_db


class Receiver:
    """A receiver that is down for its first `failures` calls, then answers."""

    def __init__(self, failures: int = 0, permanent: bool = False):
        self.failures = failures
        self.permanent = permanent
        self.received: list[dict] = []

    def __call__(self, payload: dict) -> dict:
        if self.permanent:
            raise registry.PermanentFailure("400 Bad Request: the receiver refused the body")
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("connection refused")
        self.received.append(payload)
        return {"id": len(self.received)}


@pytest.fixture
def receiver():
    handler = Receiver()
    registry.register("test.receiver", handler)
    return handler


def queue(key: str = "", payload: dict | None = None) -> OutboxMessage:
    return services.outbox_send(kind="test.receiver", payload=payload or {"n": 1}, key=key, summary="a test message")


def test_a_message_queued_in_a_rolled_back_change_is_never_stored_nor_sent(receiver):
    with pytest.raises(RuntimeError), transaction.atomic():
        queue()
        raise RuntimeError("the change failed")
    assert not OutboxMessage.objects.exists()
    assert services.outbox_due() == []


def test_a_message_is_sent_once_and_records_the_answer(receiver):
    message = queue(payload={"hello": "world"})
    assert services.outbox_deliver(message.pk) == MessageState.SENT
    assert services.outbox_deliver(message.pk) is None  # a duplicate wake-up sends nothing
    message.refresh_from_db()
    assert receiver.received == [{"hello": "world"}]
    assert (message.state, message.attempts, message.result) == (MessageState.SENT, 1, {"id": 1})
    assert message.sent_at is not None


def test_a_receiver_that_is_down_is_tried_again_with_growing_waits_until_it_answers(receiver, settings):
    settings.OUTBOX_BACKOFF_SECONDS = 10
    receiver.failures = 3
    waits = []
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        message = queue()
        for _ in range(4):
            state = services.outbox_deliver(message.pk)
            message.refresh_from_db()
            if state == MessageState.SENT:
                break
            assert services.outbox_deliver(message.pk) is None  # not due before its time
            waits.append((message.next_attempt_at - timezone.now()).total_seconds())
            traveller.shift(timedelta(seconds=waits[-1]))
    assert waits == [10, 20, 40]
    assert message.state == MessageState.SENT and message.attempts == 4
    assert message.last_error == ""


def test_it_gives_up_after_the_last_attempt_and_says_why(receiver, settings):
    settings.OUTBOX_MAX_ATTEMPTS = 2
    receiver.failures = 5
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        message = queue()
        services.outbox_deliver(message.pk)
        traveller.shift(timedelta(hours=1))
        assert services.outbox_deliver(message.pk) == MessageState.FAILED
    message.refresh_from_db()
    assert message.state == MessageState.FAILED
    assert "Gave up after 2 attempts" in message.last_error and "connection refused" in message.last_error
    assert services.outbox_due() == []


def test_a_refusal_that_retrying_cannot_fix_gives_up_at_once(receiver):
    receiver.permanent = True
    message = queue()
    assert services.outbox_deliver(message.pk) == MessageState.FAILED
    message.refresh_from_db()
    assert message.attempts == 1 and "refused the body" in message.last_error


def test_a_send_whose_worker_died_is_taken_over_after_its_lease(receiver, settings):
    message = queue()
    claimed = services._claim(message.pk)  # a worker claimed it and died before answering
    assert claimed is not None and services.outbox_deliver(message.pk) is None
    with time_machine.travel(timezone.now() + timedelta(seconds=settings.OUTBOX_LEASE_SECONDS + 1)):
        assert services.outbox_due() == [message.pk]
        assert services.outbox_deliver(message.pk) == MessageState.SENT
    assert len(receiver.received) == 1


def test_one_key_queues_one_message(receiver):
    first = queue(key="occurrence-7-start")
    second = queue(key="occurrence-7-start")
    assert first.pk == second.pk
    assert OutboxMessage.objects.count() == 1


def test_an_unknown_kind_is_refused_when_queued():
    with pytest.raises(ValueError, match="No outbox handler"):
        services.outbox_send(kind="no.such.kind", payload={})


def test_viewers_read_the_outbox_and_only_operators_retry(receiver, viewer, operator):
    receiver.permanent = True
    message = queue()
    services.outbox_deliver(message.pk)
    viewer_api, operator_api = APIClient(), APIClient()
    viewer_api.force_authenticate(viewer)
    operator_api.force_authenticate(operator)
    listed = viewer_api.get("/api/v1/outbox/?state=failed")
    assert listed.status_code == 200 and listed.json()["results"][0]["id"] == message.pk
    assert viewer_api.post(f"/api/v1/outbox/{message.pk}/retry/").status_code == 403
    receiver.permanent = False
    retried = operator_api.post(f"/api/v1/outbox/{message.pk}/retry/")
    assert retried.status_code == 202 and retried.json()["state"] == MessageState.PENDING
    assert services.outbox_deliver(message.pk) == MessageState.SENT
    again = operator_api.post(f"/api/v1/outbox/{message.pk}/retry/")
    assert again.status_code == 409 and "gave up" in again.json()["detail"]


def test_the_outbox_page_counts_each_state_and_lists_the_errors(receiver, client, operator):
    receiver.permanent = True
    services.outbox_deliver(queue().pk)
    client.force_login(operator)
    page = client.get("/outbox/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="outbox-failed">1<' in html
    assert "refused the body" in html and 'data-testid="outbox-retry"' in html
