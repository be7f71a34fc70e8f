"""A cancel takes effect at the worker's next poll, wherever it waits, and leaves no new instance pending."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from estate.inventory.choices import InstanceState
from estate.inventory.models import Instance
from estate.operations import engine, services
from estate.operations.choices import OperationKind, OperationState, ReplacementState, StepLevel
from estate.operations.models import Operation, ProviderConfig, Replacement
from estate.operations.providers.sandbox import SandboxProvider
from tests.operations.conftest import make_component, run_to_end
from tests.operations.test_kubernetes_provider import ApiStub, k8s_component

pytestmark = pytest.mark.django_db

# Long enough that the old code, which never looked for a cancel while waiting, ends FAILED on the
# timeout instead of CANCELLED (and the test says so) rather than hanging the suite.
# Long enough that a cancel which did not take effect shows as a timeout (FAILED, and far slower than
# CANCELLED_WITHIN), short enough that such a broken test still ends.
TIMEOUT = 30
CANCELLED_WITHIN = 10  # seconds: the next poll, with room for a machine loaded by other test runs


def start(component, **params):
    return services.operation_start(component=component, kind=OperationKind.ROLL_COMPONENT, params=params)


def run(op) -> tuple[Operation, float]:
    started = time.monotonic()
    op = run_to_end(op)
    return op, time.monotonic() - started


@pytest.fixture
def cancel_at_first_wait(monkeypatch):
    """Cancel the operation, as a person would from another request, the first time it waits (snoozes:
    the engine gives its worker back); the next wake-up sees the cancel."""
    real_snooze = engine.Run.snooze
    asked = []

    def snooze(self, seconds, why):
        real_snooze(self, seconds, why)
        if not asked:
            asked.append(services.operation_cancel(operation=Operation.objects.get(pk=self.op.pk)).state)

    monkeypatch.setattr(engine.Run, "snooze", snooze)
    return asked


def new_instances(op):
    return Instance.objects.filter(pk__in=Replacement.objects.filter(operation=op).values("new_instance"))


def test_cancel_during_a_health_gate_stops_at_the_next_poll_and_terminates_the_new_instances(
    component, cancel_at_first_wait
):
    olds = set(component.instances.values_list("pk", flat=True))
    op = start(component, batch_size=2, warmup_seconds=3600, health_timeout_seconds=TIMEOUT)
    op, took = run(op)
    assert cancel_at_first_wait == [OperationState.CANCELLING]
    assert op.state == OperationState.CANCELLED, op.error
    assert took < CANCELLED_WITHIN
    news = new_instances(op)
    assert news.count() == 2 and set(news.values_list("state", flat=True)) == {InstanceState.TERMINATED}
    assert set(Replacement.objects.filter(operation=op).values_list("state", flat=True)) == {
        ReplacementState.ROLLED_BACK,
        ReplacementState.PENDING,
    }
    assert Instance.objects.filter(pk__in=olds, state=InstanceState.RUNNING).count() == 4
    last = op.steps.last()
    assert last.level == StepLevel.WARNING
    assert last.message.startswith("Cancelled after 0 of 4 replacement(s); 4 instance(s) left as they were;")
    assert all(i.external_id in last.message for i in news)


def test_cancel_while_old_instances_wait_to_be_retired_stops_at_the_next_poll(component, cancel_at_first_wait):
    # One more instance desired than there are: no healthy old one may go, so the engine waits. (A replace,
    # not a roll: a roll would first launch the missing instance.)
    type(component).objects.filter(pk=component.pk).update(desired_instances=5)
    op = services.operation_start(
        component=component,
        kind=OperationKind.REPLACE_INSTANCES,
        params={
            "instance_ids": [component.instances.first().pk],
            "warmup_seconds": 0,
            "health_timeout_seconds": TIMEOUT,
        },
    )
    op, took = run(op)
    assert op.state == OperationState.CANCELLED, op.error
    assert took < CANCELLED_WITHIN
    assert not Instance.objects.filter(component=component, state=InstanceState.PENDING).exists()
    assert new_instances(op).get().state == InstanceState.TERMINATED
    assert component.instances.filter(state=InstanceState.RUNNING).count() == 4


def test_cancel_asked_while_the_worker_was_dead_terminates_its_pending_new_instances(component):
    """The sweep hands a cancelling operation to a new worker: it finishes the cancel, not just the row."""
    op = start(component, batch_size=2, warmup_seconds=3600, health_timeout_seconds=TIMEOUT)
    token = engine.claim(op.pk)
    first = engine.Run(op.pk, token)
    first.provider = SandboxProvider()
    first.plan()
    batch = list(first.current_batch())
    for rep in batch:  # the dead worker launched its first batch, then died
        rep.new_instance = first.provider.launch(first.op, rep, first.target_image())
        rep.state = ReplacementState.LAUNCHED
        rep.save()
    services.operation_cancel(operation=op)
    Operation.objects.filter(pk=op.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    op, _ = run(op)
    assert op.state == OperationState.CANCELLED
    assert not Instance.objects.filter(component=component, state=InstanceState.PENDING).exists()
    assert set(new_instances(op).values_list("state", flat=True)) == {InstanceState.TERMINATED}
    assert "unfinished new instance(s) terminated" in op.steps.last().message


def test_cancel_during_a_rebuild_keeps_the_image_from_becoming_current(component, monkeypatch):
    before = component.current_image_id
    op = services.operation_start(component=component, kind=OperationKind.REBUILD_IMAGE)
    real_build = SandboxProvider.build_image

    def build_then_cancel(self, operation):
        services.operation_cancel(operation=Operation.objects.get(pk=operation.pk))
        return real_build(self, operation)

    monkeypatch.setattr(SandboxProvider, "build_image", build_then_cancel)
    op, _ = run(op)
    component.refresh_from_db()
    assert op.state == OperationState.CANCELLED
    assert component.current_image_id == before
    assert op.steps.last().message == f"Cancelled; image #{op.result['image_id']} was built but not made current."


class SilentCI:
    """A CI/CD that accepts every request (202) and never calls back: the provider waits for it."""

    def __init__(self):
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                self.send_response(202)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/estate"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def silent_ci(settings, monkeypatch):
    settings.OUTBOUND_ALLOWED_NETWORKS = "127.0.0.1/32"
    settings.PROVIDER_SECRET_SCOPES = "ESTATE_TEST_CANCEL_SECRET=*"
    settings.OPERATIONS_WEBHOOK_CALLBACK_TIMEOUT_SECONDS = TIMEOUT
    monkeypatch.setenv("ESTATE_TEST_CANCEL_SECRET", "shared-secret")
    ci = SilentCI()
    yield ci
    ci.server.shutdown()


def test_cancel_stops_a_provider_waiting_for_its_callback_at_the_next_poll(silent_ci, cancel_at_first_wait):
    component = make_component(instances=2, provider="webhook")
    ProviderConfig.objects.create(
        component=component, settings={"url": silent_ci.url}, secret_env="ESTATE_TEST_CANCEL_SECRET"
    )
    op = services.operation_start(component=component, kind=OperationKind.REBUILD_IMAGE)
    op, took = run(op)
    assert cancel_at_first_wait == [OperationState.CANCELLING]
    assert op.state == OperationState.CANCELLED, op.error
    assert took < CANCELLED_WITHIN
    assert op.steps.last().message == "Cancelled before an image was built."


def test_cancel_while_following_a_kubernetes_rollout_says_the_deployment_keeps_rolling(
    settings, monkeypatch, cancel_at_first_wait
):
    settings.OUTBOUND_ALLOWED_NETWORKS = "127.0.0.1/32"
    settings.PROVIDER_SECRET_SCOPES = "ESTATE_TEST_K8S_TOKEN=*"
    api = ApiStub()
    api.replicas = 1000  # one pod per status read: far from finished when the cancel comes
    threading.Thread(target=api.server.serve_forever, daemon=True).start()
    try:
        op = start(k8s_component(api, monkeypatch), health_timeout_seconds=TIMEOUT)
        op, took = run(op)
    finally:
        api.server.shutdown()
    assert op.state == OperationState.CANCELLED, op.error
    assert took < CANCELLED_WITHIN
    assert 0 < op.progress_done < 1000 and op.progress_total == 1000
    message = op.steps.last().message
    assert message == (
        f"Cancelled after {op.progress_done} of 1000 updated; Estate stopped following the rollout, and the "
        "Deployment keeps rolling unless you pause it (kubectl rollout pause)."
    )


def test_cancelling_a_waiting_operation_wakes_it_at_once(component, monkeypatch, django_capture_on_commit_callbacks):
    woken = []
    monkeypatch.setattr(services, "dispatch", woken.append)
    op = start(component)
    Operation.objects.filter(pk=op.pk).update(state=OperationState.RUNNING)  # snoozing, no worker holds it
    woken.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.operation_cancel(operation=Operation.objects.get(pk=op.pk))
    assert woken == [op.pk]
    assert Operation.objects.get(pk=op.pk).state == OperationState.CANCELLING
