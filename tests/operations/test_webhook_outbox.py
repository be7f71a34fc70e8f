"""Issue 12: the webhook provider's requests to the CI/CD go through the outbox. A CI/CD that is down
gets each request once it is back (retries with backoff, their state on the operation's page); one
down for good fails the operation naming the request as soon as the outbox gives up; the address and
the secret's scope are checked again when the request is sent, not only when it was queued.

A real HTTP server on loopback plays the CI/CD and calls back the live server; the outbox is driven
with its own functions (outbox_due, outbox_deliver), as its worker would."""

from __future__ import annotations

import os
import socket
import threading
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from estate.operations import engine, services
from estate.operations.choices import OperationKind, OperationState
from estate.operations.models import Operation, ProviderConfig, WebhookCall
from estate.operations.providers import webhook
from estate.outbox.choices import MessageState
from estate.outbox.models import OutboxMessage
from tests.core.test_outbound import FakeDNS, Listener
from tests.operations.conftest import deliver_webhook_requests, run_to_end
from tests.operations.test_webhook_provider import SECRET, FakeCI, start, webhook_component

# The CI/CD's callbacks reach the live server on its own thread while the engine writes on the test's:
# SQLite's in-memory shared-cache test database locks whole tables and does not wait ("database table is
# locked"), unlike the WAL file with a busy timeout that `make run` uses. These run on PostgreSQL.
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def setup(settings, monkeypatch):
    settings.OUTBOUND_ALLOWED_NETWORKS = "127.0.0.1/32"  # the fake CI/CD; 127.0.0.2 stays refused
    settings.PROVIDER_SECRET_SCOPES = "ESTATE_TEST_WEBHOOK_SECRET=*"
    settings.OUTBOX_BACKOFF_SECONDS = 10
    settings.OUTBOX_MAX_ATTEMPTS = 4
    settings.OPERATIONS_WEBHOOK_CALLBACK_TIMEOUT_SECONDS = 1800
    monkeypatch.setenv("ESTATE_TEST_WEBHOOK_SECRET", SECRET)
    monkeypatch.setattr(services, "dispatch", lambda op_id: None)


@pytest.fixture
def ci(live_server, settings):
    settings.OPERATIONS_WEBHOOK_CALLBACK_URL = (
        f"{live_server.url.replace('localhost', '127.0.0.1')}/operations/callback/"
    )
    fake = FakeCI(settings.OPERATIONS_WEBHOOK_CALLBACK_URL)
    threading.Thread(target=fake.server.serve_forever, daemon=True).start()
    yield fake
    fake.server.shutdown()


@pytest.fixture
def healthy_on_launch(monkeypatch):
    """Telemetry stands in: the new instances report healthy by the time the gate looks."""
    from estate.inventory.choices import Health
    from estate.inventory.models import Instance

    real_refresh = webhook.WebhookProvider.refresh

    def report(self, operation, instances):
        Instance.objects.filter(pk__in=[i.pk for i in instances]).update(health=Health.HEALTHY)
        real_refresh(self, operation, instances)

    monkeypatch.setattr(webhook.WebhookProvider, "refresh", report)


def message_for(request_id: str) -> OutboxMessage:
    return OutboxMessage.objects.get(kind=webhook.REQUEST, key=request_id)


def build_request_id(op: Operation) -> str:
    return f"op{op.pk}-build_image-image"


def test_a_ci_that_refuses_the_first_two_deliveries_gets_every_request_once(ci, healthy_on_launch):
    ci.fail_first = 2  # down (503) for the first two deliveries, then up
    component = webhook_component(ci)
    op = run_to_end(start(component, batch_size=1))
    assert op.state == OperationState.SUCCEEDED, op.error
    calls = list(WebhookCall.objects.filter(operation=op).order_by("pk"))
    received = [r["request_id"] for r in ci.requests]
    # Accepted (and so processed) once per request_id, each request by the one message of its key.
    assert sorted(received) == sorted(c.request_id for c in calls) and len(set(received)) == len(calls) == 4
    assert [r["action"] for r in ci.requests] == ["launch", "terminate", "launch", "terminate"]
    assert ci.bad_signatures == 0 and ci.fail_first == 0
    messages = [message_for(c.request_id) for c in calls]
    assert {m.state for m in messages} == {MessageState.SENT}
    assert [m.attempts for m in messages] == [3, 1, 1, 1]  # the first request waited for the CI/CD
    assert [c.attempts for c in calls] == [3, 1, 1, 1]  # delivery attempts, recorded on the call too
    assert all(c.status == WebhookCall.Status.SUCCEEDED for c in calls)
    assert messages[0].result == {"status": 202}
    first = messages[0]
    assert first.sent_at - first.created_at >= timedelta(seconds=10 + 20)  # the outbox's backoff


def test_the_operation_page_says_where_the_request_stands(ci, client, admin_user):
    ci.fail_first = 1
    op = start(webhook_component(ci), kind=OperationKind.REBUILD_IMAGE)
    engine.execute(op.pk)  # queues the request and waits
    request_id = build_request_id(op)
    op.refresh_from_db()
    assert op.result["waiting"] == f"waiting for the CI/CD's callback to {request_id} (request queued)"
    assert deliver_webhook_requests() == [MessageState.PENDING]  # 503
    Operation.objects.filter(pk=op.pk).update(lease_expires_at=op.lease_expires_at - timedelta(hours=1))
    engine.execute(op.pk)  # woken: the request has not gone out yet
    op.refresh_from_db()
    waiting = op.result["waiting"]
    assert waiting.startswith(f"waiting for the CI/CD's callback to {request_id} (request not delivered yet: ")
    assert "attempt 1 failed, CiUnavailable: The CI/CD did not accept build_image: HTTP 503." in waiting
    assert "next try" in waiting
    client.force_login(admin_user)
    page = client.get(f"/operations/{op.pk}/").content.decode()
    assert "attempt 1 failed" in page and "HTTP 503" in page
    op = run_to_end(op)
    assert op.state == OperationState.SUCCEEDED, op.error
    assert [r["request_id"] for r in ci.requests] == [request_id]
    assert "attempt 1 failed" not in client.get(f"/operations/{op.pk}/").content.decode()


def test_a_ci_down_for_good_fails_the_operation_when_the_outbox_gives_up(ci):
    ci.fail_first = 10**6  # always 503
    op = run_to_end(start(webhook_component(ci), kind=OperationKind.REBUILD_IMAGE))
    request_id = build_request_id(op)
    assert op.state == OperationState.FAILED
    assert op.error.startswith(f"The outbox gave up sending {request_id} to the CI/CD: Gave up after 4 attempts.")
    assert "HTTP 503" in op.error
    assert 10**6 - ci.fail_first == 4 and ci.requests == []  # four deliveries, none accepted
    assert message_for(request_id).state == MessageState.FAILED
    # Failed once the outbox gave up (10 + 20 + 40 s of backoff), not after the 30-minute callback timeout.
    assert op.finished_at - op.started_at < timedelta(minutes=5)


def test_a_config_moved_to_a_refused_address_after_queueing_is_refused_at_send_time(ci):
    op = start(webhook_component(ci), kind=OperationKind.REBUILD_IMAGE)
    engine.execute(op.pk)  # the request is queued against the CI/CD's (allowed) address
    with Listener("127.0.0.2", port=ci.server.server_port) as internal:
        # Written around the model's validation: only the check at send time stands in the way.
        ProviderConfig.objects.filter(component=op.component).update(
            settings={"url": f"http://127.0.0.2:{ci.server.server_port}/hooks/estate"}
        )
        assert deliver_webhook_requests() == [MessageState.FAILED]  # a refusal: not tried again
        op = run_to_end(op)
    assert internal.requests == [] and ci.requests == []
    assert op.state == OperationState.FAILED
    assert f"The outbox gave up sending {build_request_id(op)} to the CI/CD" in op.error
    assert "settings.url: 127.0.0.2 is a loopback address" in op.error
    assert message_for(build_request_id(op)).attempts == 1


def test_a_name_that_moves_to_a_refused_address_after_queueing_is_refused_at_send_time(ci, monkeypatch):
    dns = FakeDNS(socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", dns)
    dns.answers["ci.moving.test"] = [["127.0.0.1"], ["127.0.0.2"]]  # checked when queued, rebinds by the send
    component = webhook_component(ci)
    ProviderConfig.objects.filter(component=component).update(
        settings={"url": f"http://ci.moving.test:{ci.server.server_port}/hooks/estate"}
    )
    with Listener("127.0.0.2", port=ci.server.server_port) as internal:
        op = run_to_end(start(component, kind=OperationKind.REBUILD_IMAGE))
    assert op.state == OperationState.FAILED
    assert "settings.url: ci.moving.test resolves to 127.0.0.2, a loopback address" in op.error
    assert internal.requests == [] and ci.requests == []
    assert dns.asked["ci.moving.test"] == 2  # once when queued, once at the send


def test_a_secret_binding_removed_after_queueing_stops_the_send(ci, settings):
    op = start(webhook_component(ci), kind=OperationKind.REBUILD_IMAGE)
    engine.execute(op.pk)
    settings.PROVIDER_SECRET_SCOPES = "ESTATE_TEST_WEBHOOK_SECRET=team:payments"
    assert deliver_webhook_requests() == [MessageState.FAILED]
    op = run_to_end(op)
    assert op.state == OperationState.FAILED
    assert "secret_env: ESTATE_TEST_WEBHOOK_SECRET is bound to team:payments" in op.error
    assert ci.requests == [] and ci.bad_signatures == 0  # nothing reached the CI/CD, signed or not


def test_a_request_still_queued_when_its_operation_is_cancelled_is_not_sent(ci):
    ci.fail_first = 1
    op = start(webhook_component(ci), kind=OperationKind.REBUILD_IMAGE)
    engine.execute(op.pk)
    assert deliver_webhook_requests() == [MessageState.PENDING]
    services.operation_cancel(operation=Operation.objects.get(pk=op.pk))
    op = run_to_end(op)
    assert op.state == OperationState.CANCELLED
    with time_machine.travel(timezone.now() + timedelta(minutes=1)):  # the retry is due
        assert deliver_webhook_requests() == [MessageState.SENT]
    message = message_for(build_request_id(op))
    assert message.state == MessageState.SENT and message.result == {"skipped": f"operation #{op.pk} is cancelled"}
    assert ci.requests == []


REAL_DISPATCH = services.dispatch


@pytest.mark.redis
@pytest.mark.postgres
def test_a_real_worker_sends_the_request_again_until_the_ci_takes_it(ci, settings, monkeypatch, tmp_path):
    """End to end with a Celery worker on Redis: the operation's task queues the request, the outbox's
    tasks send it (woken at commit, then by deliver_due as beat would), the callback lets the build finish."""
    import redis

    from estate.outbox.tasks import deliver_due
    from tests.operations.test_worker import finished, start_worker, stop, wait_for

    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
    worker_env = {
        "OUTBOUND_ALLOWED_NETWORKS": settings.OUTBOUND_ALLOWED_NETWORKS,
        "PROVIDER_SECRET_SCOPES": settings.PROVIDER_SECRET_SCOPES,
        "OPERATIONS_WEBHOOK_CALLBACK_URL": settings.OPERATIONS_WEBHOOK_CALLBACK_URL,
        "OUTBOX_BACKOFF_SECONDS": "1",
    }
    for name, value in worker_env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(services, "dispatch", REAL_DISPATCH)
    ci.fail_first = 2
    component = webhook_component(ci)
    worker = start_worker(tmp_path, "webhook-outbox")
    try:
        op = start(component, kind=OperationKind.REBUILD_IMAGE)

        def done():
            deliver_due()  # beat's outbox-deliver-due
            return finished(op.pk)

        try:
            op = wait_for(done, timeout=90, sweep=True)
        except AssertionError as exc:
            raise AssertionError(f"not finished: {(tmp_path / 'webhook-outbox.log').read_text()[-3000:]}") from exc
    finally:
        stop(worker)
    log = (tmp_path / "webhook-outbox.log").read_text()
    assert op.state == OperationState.SUCCEEDED, f"{op.error}\n{log[-3000:]}"
    request_id = build_request_id(op)
    assert [r["request_id"] for r in ci.requests] == [request_id] and ci.fail_first == 0
    message = message_for(request_id)
    assert (message.state, message.attempts) == (MessageState.SENT, 3)
    assert "estate.outbox.tasks.deliver_message" in log
