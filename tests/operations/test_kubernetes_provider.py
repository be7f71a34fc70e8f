"""The kubernetes provider with the official client against a local API stub (an http.server on loopback
answering the GET and PATCH the client makes), not a recorded exchange."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from estate.operations import engine, services
from estate.operations.choices import OperationKind, OperationState
from estate.operations.models import Operation, ProviderConfig
from estate.operations.providers.kubernetes import KubernetesProvider
from tests.operations.conftest import make_component, run_to_end

pytestmark = pytest.mark.django_db
PATH = "/apis/apps/v1/namespaces/shop/deployments/web"


class ApiStub:
    """One Deployment of 3 replicas; after a PATCH, each status read shows one more pod updated."""

    def __init__(self):
        self.generation, self.updated, self.replicas = 1, 3, 3
        self.image = "registry.example/web:1.0.0"
        self.patches: list[tuple[str, dict, str]] = []
        self.auth: list[str] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                stub.auth.append(self.headers.get("Authorization", ""))
                if self.path not in (PATH, f"{PATH}/status"):
                    self.reply(404, {"kind": "Status", "code": 404, "reason": "NotFound"})
                    return
                if stub.updated < stub.replicas:
                    stub.updated += 1
                self.reply(200, stub.deployment())

            def do_PATCH(self):
                stub.auth.append(self.headers.get("Authorization", ""))
                if self.path != PATH:
                    self.reply(404, {"kind": "Status", "code": 404, "reason": "NotFound"})
                    return
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.patches.append((self.path, body, self.headers["Content-Type"]))
                container = body["spec"]["template"]["spec"]["containers"][0]
                if container["image"] != stub.image:
                    stub.image, stub.generation, stub.updated = container["image"], stub.generation + 1, 0
                self.reply(200, stub.deployment())

            def reply(self, code, data):
                raw = json.dumps(data).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def deployment(self) -> dict:
        labels = {"app": "web"}
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop", "generation": self.generation},
            "spec": {
                "replicas": self.replicas,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "web", "image": self.image}]},
                },
            },
            "status": {
                "observedGeneration": self.generation,
                "replicas": self.replicas,
                "updatedReplicas": self.updated,
                "availableReplicas": self.replicas,
            },
        }


@pytest.fixture
def stub():
    api = ApiStub()
    thread = threading.Thread(target=api.server.serve_forever, daemon=True)
    thread.start()
    yield api
    api.server.shutdown()


@pytest.fixture(autouse=True)
def loopback_api(settings):
    """The API stub listens on loopback, which Estate calls only when allowed; its token is estate-wide."""
    settings.OUTBOUND_ALLOWED_NETWORKS = "127.0.0.1/32"
    settings.PROVIDER_SECRET_SCOPES = "ESTATE_TEST_K8S_TOKEN=*"


@pytest.fixture(autouse=True)
def no_dispatch(monkeypatch):
    monkeypatch.setattr(services, "dispatch", lambda op_id: None)


def k8s_component(stub, monkeypatch):
    monkeypatch.setenv("ESTATE_TEST_K8S_TOKEN", "s3cret-token")
    component = make_component(instances=0, provider="kubernetes")
    ProviderConfig.objects.create(
        component=component,
        settings={"host": stub.url, "namespace": "shop", "deployment": "web", "container": "web"},
        secret_env="ESTATE_TEST_K8S_TOKEN",
    )
    return component


def test_roll_patches_the_pod_template_and_follows_the_rollout(stub, monkeypatch):
    component = k8s_component(stub, monkeypatch)
    op = services.operation_start(component=component, kind=OperationKind.ROLL_COMPONENT)
    op = run_to_end(op)
    assert op.state == OperationState.SUCCEEDED, op.error
    assert (op.progress_done, op.progress_total) == (3, 3)
    [(path, body, content_type)] = stub.patches
    assert path == PATH and content_type == "application/strategic-merge-patch+json"
    template = body["spec"]["template"]
    assert template["spec"]["containers"] == [{"name": "web", "image": component.current_image.reference}]
    assert template["metadata"]["annotations"]["estate.operations/operation"] == str(op.pk)
    assert set(stub.auth) == {"Bearer s3cret-token"}


def test_a_resumed_roll_does_not_patch_again(stub, monkeypatch):
    component = k8s_component(stub, monkeypatch)
    op = services.operation_start(component=component, kind=OperationKind.ROLL_COMPONENT)
    real_status = KubernetesProvider.rollout_status

    def die_while_following(self):
        raise KeyboardInterrupt("worker killed")  # after the patch was sent; not an Exception, nothing records it

    monkeypatch.setattr(KubernetesProvider, "rollout_status", die_while_following)
    with pytest.raises(KeyboardInterrupt):
        engine.execute(op.pk)
    assert len(stub.patches) == 1
    # Another worker takes the operation over once the dead one's lease has run out.
    Operation.objects.filter(pk=op.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    monkeypatch.setattr(KubernetesProvider, "rollout_status", real_status)
    op = run_to_end(op)
    assert op.state == OperationState.SUCCEEDED, op.error
    assert len(stub.patches) == 1  # followed the rollout it had started; did not start another


def test_rollout_that_never_finishes_fails_at_the_timeout(stub, monkeypatch):
    component = k8s_component(stub, monkeypatch)
    stub.replicas = 50  # one pod per status read: not within the timeout
    op = services.operation_start(
        component=component, kind=OperationKind.ROLL_COMPONENT, params={"health_timeout_seconds": 0.05}
    )
    op = run_to_end(op)
    assert op.state == OperationState.FAILED and "did not finish" in op.error


def test_kubernetes_cannot_rebuild_or_replace_named_instances(stub, monkeypatch):
    from estate.core.errors import ApplicationError

    component = k8s_component(stub, monkeypatch)
    with pytest.raises(ApplicationError, match="cannot rebuild image"):
        services.operation_start(component=component, kind=OperationKind.REBUILD_IMAGE)


def test_an_unknown_deployment_fails_with_the_api_status(stub, monkeypatch):
    component = k8s_component(stub, monkeypatch)
    ProviderConfig.objects.filter(component=component).update(
        settings={"host": stub.url, "namespace": "shop", "deployment": "nope", "container": "web"}
    )
    op = services.operation_start(component=component, kind=OperationKind.ROLL_COMPONENT)
    op = run_to_end(op)
    assert op.state == OperationState.FAILED and "HTTP 404" in op.error


def roll_gated(component, **params):
    """A roll whose PromQL condition cannot be answered (no Prometheus): its analysis fails."""
    condition = {"analysis_queries": [{"query": 'sum(rate(http_errors{job="$component"}[1m]))', "max": 1}]}
    return services.operation_start(
        component=component, kind=OperationKind.ROLL_COMPONENT, params={**condition, **params}
    )


def test_a_rollout_that_fails_its_analysis_is_undone_back_to_the_image_it_ran(stub, monkeypatch, settings):
    settings.PROMETHEUS_URL = ""
    component = k8s_component(stub, monkeypatch)
    op = run_to_end(roll_gated(component, rollback=True, warmup_seconds=30))
    assert op.state == OperationState.FAILED
    assert "Rollout: analysis failed" in op.error and "PROMETHEUS_URL is not configured" in op.error
    assert op.error.endswith("Rolled back: the Deployment runs registry.example/web:1.0.0 again.")
    (_, forward, _), (_, undo, _) = stub.patches
    assert forward["spec"]["template"]["spec"]["containers"][0]["image"] == component.current_image.reference
    assert undo["spec"]["template"]["spec"]["containers"] == [{"name": "web", "image": "registry.example/web:1.0.0"}]
    assert stub.image == "registry.example/web:1.0.0" and stub.updated == stub.replicas  # the undo finished
    messages = [s.message for s in op.steps.all()]
    assert any("warming up for 30 s" in m for m in messages)  # warm-up applies to Kubernetes too
    assert any("Undoing the rollout" in m for m in messages)


def test_without_rollback_a_failed_analysis_leaves_the_rollout_in_place(stub, monkeypatch, settings):
    settings.PROMETHEUS_URL = ""
    component = k8s_component(stub, monkeypatch)
    op = run_to_end(roll_gated(component))
    assert op.state == OperationState.FAILED and "Rollout: analysis failed" in op.error
    assert len(stub.patches) == 1 and stub.image == component.current_image.reference


def test_a_rollout_that_times_out_is_undone_when_rollback_is_on_and_a_slow_undo_is_reported(stub, monkeypatch):
    component = k8s_component(stub, monkeypatch)
    stub.replicas = 50
    op = services.operation_start(
        component=component,
        kind=OperationKind.ROLL_COMPONENT,
        params={"health_timeout_seconds": 0.05, "rollback": True},
    )
    op = run_to_end(op)
    assert op.state == OperationState.FAILED
    # The undo was sent; it is held to the same timeout, and the error says both.
    assert op.error.startswith("Rollout did not finish within 0.05 s")
    assert "The undo did not finish within 0.05 s" in op.error
    assert stub.image == "registry.example/web:1.0.0" and len(stub.patches) == 2
