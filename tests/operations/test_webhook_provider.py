"""The webhook provider against a real HTTP server on loopback playing the team's CI/CD."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from django.utils import timezone

from estate.inventory.choices import Health, InstanceState
from estate.inventory.models import Instance
from estate.operations import engine, services
from estate.operations.choices import OperationKind, OperationState
from estate.operations.models import ProviderConfig, WebhookCall
from estate.operations.providers.base import Snooze
from estate.operations.providers.signing import HEADER, sign, verify
from tests.operations.conftest import deliver_webhook_requests, make_component, run_to_end

SECRET = "ci-shared-secret"


class FakeCI:
    """Accepts signed requests, fails the first `fail_first` with 503, then calls back, signed."""

    def __init__(self, callback_url: str):
        self.callback_url = callback_url
        self.requests: list[dict] = []
        self.bad_signatures = 0
        self.fail_first = 0
        self.refuse = False
        self.silent = False
        ci = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if not verify(SECRET, body, self.headers.get(HEADER, "")):
                    ci.bad_signatures += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                if ci.refuse:
                    self.send_response(422)
                    self.end_headers()
                    return
                if ci.fail_first > 0:
                    ci.fail_first -= 1
                    self.send_response(503)
                    self.end_headers()
                    return
                data = json.loads(body)
                ci.requests.append(data)
                self.send_response(202)
                self.end_headers()
                if not ci.silent:
                    threading.Thread(target=ci.answer, args=(data,)).start()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/estate"

    def answer(self, data: dict) -> None:
        reply = {"request_id": data["request_id"], "status": "succeeded"}
        if data["action"] == "launch":
            reply["external_id"] = f"ci-{data['replaces']}"
        if data["action"] == "build_image":
            reply |= {"version": "9.9.9", "reference": "registry.example/app@sha256:abc"}
        body = json.dumps(reply).encode()
        requests.post(data["callback_url"], data=body, headers={HEADER: sign(SECRET, body)}, timeout=5)


@pytest.fixture(autouse=True)
def loopback_ci(settings):
    """The fake CI/CD listens on loopback, which Estate calls only when allowed; its secret is estate-wide."""
    settings.OUTBOUND_ALLOWED_NETWORKS = "127.0.0.1/32"
    settings.PROVIDER_SECRET_SCOPES = "ESTATE_TEST_WEBHOOK_SECRET=*"


@pytest.fixture
def ci(live_server, settings, monkeypatch):
    url = live_server.url.replace("localhost", "127.0.0.1")
    settings.OPERATIONS_WEBHOOK_CALLBACK_URL = f"{url}/operations/callback/"
    settings.OPERATIONS_WEBHOOK_CALLBACK_TIMEOUT_SECONDS = 10
    monkeypatch.setenv("ESTATE_TEST_WEBHOOK_SECRET", SECRET)
    fake = FakeCI(settings.OPERATIONS_WEBHOOK_CALLBACK_URL)
    thread = threading.Thread(target=fake.server.serve_forever, daemon=True)
    thread.start()
    yield fake
    fake.server.shutdown()


@pytest.fixture
def telemetry(monkeypatch):
    """Stands in for the agents: by the time the gate looks, the new instances' telemetry says healthy
    (health only, as telemetry writes it); the provider's own refresh then runs."""
    from estate.operations.providers.webhook import WebhookProvider

    real_refresh = WebhookProvider.refresh

    def report(self, operation, instances):
        Instance.objects.filter(pk__in=[i.pk for i in instances]).update(health=Health.HEALTHY)
        real_refresh(self, operation, instances)

    monkeypatch.setattr(WebhookProvider, "refresh", report)


def webhook_component(ci: FakeCI, instances: int = 2):
    component = make_component(instances=instances, provider="webhook")
    ProviderConfig.objects.create(
        component=component, settings={"url": ci.url}, secret_env="ESTATE_TEST_WEBHOOK_SECRET"
    )
    return component


# The CI/CD's callbacks reach the live server on its own thread while the engine writes on the test's:
# SQLite's in-memory shared-cache test database locks whole tables and does not wait ("database table is
# locked"), unlike the WAL file with a busy timeout that `make run` uses. These run on PostgreSQL.
pytestmark = pytest.mark.postgres


def start(component, kind=OperationKind.ROLL_COMPONENT, **params):
    return services.operation_start(component=component, kind=kind, params=params)


@pytest.fixture(autouse=True)
def no_dispatch(monkeypatch):
    monkeypatch.setattr(services, "dispatch", lambda op_id: None)


@pytest.mark.django_db(transaction=True)
def test_roll_through_signed_requests_and_callbacks(ci, telemetry):
    component = webhook_component(ci)
    ci.fail_first = 2  # the CI/CD is flaky at first: the outbox tries again with backoff
    op = start(component, batch_size=1)
    op = run_to_end(op)
    assert op.state == OperationState.SUCCEEDED, op.error
    assert [r["action"] for r in ci.requests] == ["launch", "terminate", "launch", "terminate"]
    assert ci.bad_signatures == 0
    assert all(r["component"] == component.slug and r["operation"] == op.pk for r in ci.requests)
    live = Instance.objects.filter(component=component, state=InstanceState.RUNNING)
    assert sorted(live.values_list("external_id", flat=True)) == sorted(f"ci-{component.slug}-i{n}" for n in range(2))
    assert WebhookCall.objects.filter(operation=op, status="succeeded").count() == 4


@pytest.mark.django_db(transaction=True)
def test_rebuild_image_through_the_ci(ci):
    component = webhook_component(ci)
    op = start(component, kind=OperationKind.REBUILD_IMAGE)
    op = run_to_end(op)
    component.refresh_from_db()
    assert op.state == OperationState.SUCCEEDED, op.error
    assert component.current_image.reference == "registry.example/app@sha256:abc"


@pytest.mark.django_db(transaction=True)
def test_a_repeated_step_does_not_call_the_ci_twice(ci):
    component = webhook_component(ci)
    op = start(component, kind=OperationKind.REBUILD_IMAGE)
    from estate.operations.providers import provider_for

    provider = provider_for(component)
    first = answered(lambda: provider.call(op, "build_image", "image", {}))
    second = provider.call(op, "build_image", "image", {})  # answered at once: the callback came
    assert first == second and len(ci.requests) == 1


def answered(call):
    """The call's answer, asking again each time it snoozes (the engine would wake the operation) after
    sending what the outbox holds (its worker would)."""
    for _ in range(500):
        deliver_webhook_requests()
        try:
            return call()
        except Snooze:
            time.sleep(0.01)
    raise AssertionError("no callback")


@pytest.mark.django_db(transaction=True)
def test_waiting_for_a_callback_gives_the_worker_back_instead_of_sleeping(ci, settings):
    ci.silent = True
    settings.OPERATIONS_POLL_SECONDS = 30  # a sleeping provider would hold the test here
    component = webhook_component(ci)
    op = start(component, kind=OperationKind.REBUILD_IMAGE)
    started = time.monotonic()
    engine.execute(op.pk)
    op.refresh_from_db()
    assert time.monotonic() - started < 5
    assert op.state == OperationState.RUNNING and op.claim_token == ""  # released, not held
    assert op.result["waiting"].startswith("waiting for the CI/CD's callback")
    assert op.lease_expires_at > timezone.now()  # the wake-up time; the sweep re-sends a lost wake-up after it


@pytest.mark.django_db(transaction=True)
def test_no_callback_within_the_timeout_fails_at_a_wake_up_after_it(ci, settings):
    ci.silent = True
    component = webhook_component(ci)
    op = run_to_end(start(component, kind=OperationKind.REBUILD_IMAGE))
    assert op.state == OperationState.FAILED and "No callback for" in op.error and "within 10 s" in op.error


@pytest.mark.django_db(transaction=True)
def test_a_ci_refusal_fails_the_operation_without_retrying(ci):
    component = webhook_component(ci)
    ci.refuse = True
    op = start(component, kind=OperationKind.REBUILD_IMAGE)
    op = run_to_end(op)
    assert op.state == OperationState.FAILED and "HTTP 422" in op.error


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_ci_fails_after_the_retries(settings, monkeypatch):
    settings.OUTBOX_MAX_ATTEMPTS = 3
    monkeypatch.setenv("ESTATE_TEST_WEBHOOK_SECRET", SECRET)
    component = make_component(instances=1, provider="webhook")
    ProviderConfig.objects.create(
        component=component, settings={"url": "http://127.0.0.1:1/x"}, secret_env="ESTATE_TEST_WEBHOOK_SECRET"
    )
    op = start(component, kind=OperationKind.REBUILD_IMAGE)
    op = run_to_end(op)
    assert op.state == OperationState.FAILED and "Gave up after 3 attempts" in op.error


@pytest.mark.django_db
def test_callback_with_a_bad_signature_is_refused(client, monkeypatch):
    monkeypatch.setenv("ESTATE_TEST_WEBHOOK_SECRET", SECRET)
    component = make_component(instances=1, provider="webhook")
    ProviderConfig.objects.create(
        component=component, settings={"url": "http://127.0.0.1:1/x"}, secret_env="ESTATE_TEST_WEBHOOK_SECRET"
    )
    op = start(component, kind=OperationKind.REBUILD_IMAGE)
    WebhookCall.objects.create(request_id="op1-build_image-image", operation=op, action="build_image")
    body = json.dumps({"request_id": "op1-build_image-image", "status": "succeeded"}).encode()
    url = "/operations/callback/"
    bad = client.post(url, body, content_type="application/json", headers={HEADER: sign("wrong", body)})
    assert bad.status_code == 403
    assert WebhookCall.objects.get().status == "sent"
    good = client.post(url, body, content_type="application/json", headers={HEADER: sign(SECRET, body)})
    assert good.status_code == 200 and WebhookCall.objects.get().status == "succeeded"
    assert client.post(url, b"nonsense", content_type="application/json").status_code == 400


@pytest.mark.django_db
def test_webhook_without_a_secret_is_refused_at_run_time():
    component = make_component(instances=1, provider="webhook")
    op = start(component, kind=OperationKind.REBUILD_IMAGE)
    op = run_to_end(op)
    assert op.state == OperationState.FAILED and "secret" in op.error
