"""Kubernetes discovery with the official client against a loopback API peer.

No kube-apiserver can run on this machine (no Debian package, no wheel bundling one, no container
runtime), so the peer is an http.server that answers what a real one answers to these calls: the
apps/v1 deployments, statefulsets and daemonsets lists, batch/v1 cronjobs and v1 pods, cluster-wide
and per namespace, in the real list shapes, paged by `limit` and an opaque `continue` token, behind
a bearer token (401 without it), with a namespace RBAC refuses (403).
"""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.management import call_command

from estate.audit.models import AuditEvent
from estate.discovery import kubernetes
from estate.discovery.choices import ObjectKind, RunState
from estate.discovery.models import DiscoveredObject, DiscoverySource
from estate.discovery.services import sync_now
from estate.inventory.choices import Category, Engine, InstanceState, Mode, Provider
from estate.inventory.models import Component, Instance
from tests.html_text import parse

pytestmark = pytest.mark.django_db
TOKEN, TOKEN_VARIABLE = "s3cret-token", "ESTATE_TEST_K8S_TOKEN"
ROUTES = {
    "deployments": ("apis/apps/v1", "DeploymentList"),
    "statefulsets": ("apis/apps/v1", "StatefulSetList"),
    "daemonsets": ("apis/apps/v1", "DaemonSetList"),
    "cronjobs": ("apis/batch/v1", "CronJobList"),
    "pods": ("api/v1", "PodList"),
}


class ApiPeer:
    """A cluster's objects, served as the API server serves them."""

    def __init__(self):
        self.objects: dict[str, list[dict]] = {kind: [] for kind in ROUTES}
        self.forbidden: set[str] = set()
        self.pages: list[tuple[str, int]] = []  # (path, limit) of every list answered
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def _handler(self):
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                code, body = peer.answer(self.path, self.headers.get("Authorization", ""))
                raw = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args):
                pass

        return Handler

    # --- the API -------------------------------------------------------------------------

    def answer(self, raw_path: str, authorization: str) -> tuple[int, dict]:
        if authorization != f"Bearer {TOKEN}":
            return 401, _status(401, "Unauthorized", "Unauthorized")
        url = urlsplit(raw_path)
        route = self._route(url.path)
        if route is None:
            return 404, _status(404, "NotFound", f"the server could not find the requested resource ({url.path})")
        kind, namespace = route
        if namespace in self.forbidden:
            message = f'{kind} is forbidden: User "system:serviceaccount:estate:discovery" cannot list resource'
            return 403, _status(403, "Forbidden", f'{message} "{kind}" in the namespace "{namespace}"')
        query = parse_qs(url.query)
        return 200, self._page(kind, namespace, url.path, query)

    def _route(self, path: str) -> tuple[str, str | None] | None:
        for kind, (group, _) in ROUTES.items():
            if path == f"/{group}/{kind}":
                return kind, None
            prefix = f"/{group}/namespaces/"
            if path.startswith(prefix) and path.endswith(f"/{kind}"):
                return kind, path[len(prefix) : -len(kind) - 1]
        return None

    def _page(self, kind: str, namespace: str | None, path: str, query: dict) -> dict:
        items = [o for o in self.objects[kind] if namespace is None or o["metadata"]["namespace"] == namespace]
        start = int(base64.b64decode(query["continue"][0])) if "continue" in query else 0
        limit = int(query["limit"][0]) if "limit" in query else len(items)
        with self.lock:
            self.pages.append((path, limit))
        end = start + limit if limit else len(items)
        metadata = {"resourceVersion": "4242"}
        if end < len(items):
            metadata |= {
                "continue": base64.b64encode(str(end).encode()).decode(),
                "remainingItemCount": len(items) - end,
            }
        group, list_kind = ROUTES[kind]
        return {
            "kind": list_kind,
            "apiVersion": group.split("/", 1)[1],
            "metadata": metadata,
            "items": items[start:end],
        }

    # --- the cluster's objects -----------------------------------------------------------

    def deployment(self, namespace: str, name: str, image: str, replicas: int, labels: dict | None = None) -> None:
        template = _template(name, image)
        self.objects["deployments"].append(
            {
                "metadata": _meta(namespace, name, labels),
                "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}, "template": template},
                "status": {"replicas": replicas, "readyReplicas": replicas},
            }
        )
        self.pods_of(namespace, name, image, replicas)

    def pods_of(self, namespace: str, name: str, image: str, count: int, start: int = 0) -> None:
        """Pods of the Deployment's ReplicaSet <name>-<pod-template-hash>, as the controller names them."""
        owner = {"kind": "ReplicaSet", "name": f"{name}-7d9f8c6b5", "controller": True, "apiVersion": "apps/v1"}
        for n in range(start, start + count):
            self.objects["pods"].append(
                _pod(namespace, f"{name}-7d9f8c6b5-{n:05d}", image, owner, n, {"pod-template-hash": "7d9f8c6b5"})
            )

    def stateful_set(self, namespace: str, name: str, image: str, replicas: int) -> None:
        claim = {"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"]}}
        self.objects["statefulsets"].append(
            {
                "metadata": _meta(namespace, name),
                "spec": {
                    "replicas": replicas,
                    "serviceName": name,
                    "template": _template(name, image),
                    "volumeClaimTemplates": [claim],
                },
            }
        )
        owner = {"kind": "StatefulSet", "name": name, "controller": True, "apiVersion": "apps/v1"}
        for n in range(replicas):
            self.objects["pods"].append(_pod(namespace, f"{name}-{n}", image, owner, n))

    def daemon_set(self, namespace: str, name: str, image: str, nodes: int) -> None:
        self.objects["daemonsets"].append(
            {
                "metadata": _meta(namespace, name),
                "spec": {"template": _template(name, image)},
                "status": {"desiredNumberScheduled": nodes, "currentNumberScheduled": nodes},
            }
        )
        owner = {"kind": "DaemonSet", "name": name, "controller": True, "apiVersion": "apps/v1"}
        for n in range(nodes):
            self.objects["pods"].append(_pod(namespace, f"{name}-x{n}", image, owner, n))

    def cron_job(self, namespace: str, name: str, image: str) -> None:
        template = {"spec": {"template": _template(name, image)}}
        self.objects["cronjobs"].append(
            {"metadata": _meta(namespace, name), "spec": {"schedule": "0 3 * * *", "jobTemplate": template}}
        )
        owner = {"kind": "Job", "name": f"{name}-29012345", "controller": True, "apiVersion": "batch/v1"}
        self.objects["pods"].append(_pod(namespace, f"{name}-29012345-abcde", image, owner, 0))

    def delete(self, kind: str, namespace: str, name: str) -> None:
        """The workload and its pods (the garbage collector's cascade)."""

        def doomed(o: dict) -> bool:
            meta = o["metadata"]
            owners = [r["name"] for r in meta.get("ownerReferences", [])]
            mine = meta["name"] == name or any(r == name or r.startswith(f"{name}-") for r in owners)
            return meta["namespace"] == namespace and mine

        self.objects[kind] = [o for o in self.objects[kind] if not doomed(o)]
        self.objects["pods"] = [p for p in self.objects["pods"] if not doomed(p)]


def _status(code: int, reason: str, message: str) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}  # fmt: skip


def _meta(namespace: str, name: str, labels: dict | None = None) -> dict:
    return {
        "name": name,
        "namespace": namespace,
        "uid": f"uid-{namespace}-{name}",
        "resourceVersion": "1",
        "creationTimestamp": "2026-11-01T10:00:00Z",
        "labels": {"app": name} | (labels or {}),
    }


def _template(name: str, image: str) -> dict:
    containers = [{"name": name, "image": image}, {"name": "mesh-proxy", "image": "envoyproxy/envoy:v1.31.0"}]
    return {"metadata": {"labels": {"app": name}}, "spec": {"containers": containers}}


def _pod(namespace: str, name: str, image: str, owner: dict, n: int, labels: dict | None = None) -> dict:
    container = image.rsplit("/", 1)[-1].split(":")[0].split("@")[0]
    digest = "sha256:" + (container.encode().hex() * 8)[:64]
    meta = _meta(namespace, name, labels) | {"ownerReferences": [owner]}
    return {
        "metadata": meta,
        "spec": {"nodeName": f"node-{n % 3}", "containers": [{"name": owner_container(owner), "image": image}]},
        "status": {
            "phase": "Running",
            "podIP": f"10.0.{n // 250}.{n % 250 + 1}",
            "startTime": "2026-11-02T08:00:00Z",
            "containerStatuses": [
                {
                    "name": owner_container(owner),
                    "image": image,
                    "imageID": f"docker-pullable://{image}@{digest}",
                    "ready": True,
                    "restartCount": 0,
                }
            ],  # fmt: skip
        },
    }


def owner_container(owner: dict) -> str:
    """The container is named after its workload (the stub's templates do so)."""
    name = owner["name"]
    if owner["kind"] == "ReplicaSet":
        return name.rsplit("-", 1)[0]
    if owner["kind"] == "Job":
        return name.rsplit("-", 1)[0]
    return name


@pytest.fixture
def peer(settings, monkeypatch):
    settings.OUTBOUND_ALLOWED_NETWORKS = "127.0.0.1/32"
    monkeypatch.setenv(TOKEN_VARIABLE, TOKEN)
    api = ApiPeer()
    thread = threading.Thread(target=api.server.serve_forever, daemon=True)
    thread.start()
    yield api
    api.server.shutdown()
    api.server.server_close()


def make_source(peer: ApiPeer, **fields) -> DiscoverySource:
    values = {
        "name": "k8s-test",
        "kind": "kubernetes",
        "endpoint_url": peer.url,
        "token_env": TOKEN_VARIABLE,
        "tag_keys": {"team": "team", "environment": "env"},
    } | fields
    source = DiscoverySource(**values)
    source.full_clean()
    source.save()
    return source


def seed(peer: ApiPeer) -> None:
    peer.deployment("shop", "web", "registry.example/shop/web:1.4.2", 3, labels={"team": "shop"})
    peer.stateful_set("data", "orders-db", "docker.io/bitnami/postgresql:16.2.0", 2)
    peer.daemon_set("monitoring", "node-exporter", "quay.io/prometheus/node-exporter:v1.8.0", 2)
    peer.cron_job("shop", "nightly-report", "registry.example/shop/report:2.0")


def component(name: str) -> Component:
    return Component.objects.select_related("current_image", "team").get(slug=name)


def test_a_first_sync_writes_each_kind_of_workload_in_its_regime(peer):
    seed(peer)
    run = sync_now(source=make_source(peer))
    assert run.state == RunState.SUCCEEDED, (run.messages, run.region_errors)
    assert (run.report["component"]["created"], run.report["instance"]["created"]) == (4, 7)

    web = component("web")
    assert (web.mode, web.provider, web.category, web.desired_instances) == (
        Mode.IMMUTABLE, Provider.KUBERNETES, Category.SERVICE, 3,
    )  # fmt: skip
    assert web.team.slug == "shop"
    assert web.current_image.version == "1.4.2"
    assert web.current_image.reference.startswith("registry.example/shop/web:1.4.2@sha256:")
    pods = list(web.instances.order_by("external_id"))
    assert [p.external_id for p in pods] == [f"web-7d9f8c6b5-{n:05d}" for n in range(3)]
    assert {(p.state, p.image_id) for p in pods} == {(InstanceState.RUNNING, web.current_image.pk)}
    assert pods[0].address == "10.0.0.1"

    db = component("orders-db")
    assert (db.mode, db.holds_state, db.category, db.engine, db.engine_version, db.provider) == (
        Mode.BASTION, True, Category.DATABASE, Engine.POSTGRESQL, "16.2.0", "",
    )  # fmt: skip
    assert db.instances.count() == 2

    agent = component("node-exporter")
    assert (agent.mode, agent.desired_instances, agent.current_image.version) == (Mode.IMMUTABLE, 2, "v1.8.0")

    job = component("nightly-report")  # its Job's pod is no instance of it
    assert (job.mode, job.category, job.current_image.version, job.instances.count()) == (
        Mode.IMMUTABLE, Category.FUNCTION, "2.0", 0,
    )  # fmt: skip

    origin = DiscoveredObject.objects.get(component=db)
    assert (origin.kind, origin.region, origin.key) == (ObjectKind.STATEFULSET, "data", "data/statefulset/orders-db")
    assert origin.account == peer.url.removeprefix("http://")
    assert origin.details["volume_claims"] == ["data"]


def test_a_second_sync_follows_a_scaled_deployment_and_marks_a_deleted_statefulset_gone(peer):
    seed(peer)
    source = make_source(peer)
    sync_now(source=source)
    peer.objects["deployments"][0]["spec"]["replicas"] = 5
    peer.pods_of("shop", "web", "registry.example/shop/web:1.4.2", 2, start=3)
    peer.delete("statefulsets", "data", "orders-db")

    run = sync_now(source=source)

    assert run.state == RunState.SUCCEEDED, run.messages
    assert run.report["component"] == {"created": 0, "updated": 1, "unchanged": 2, "gone": 1, "errors": 0}
    assert (run.report["instance"]["created"], run.report["instance"]["gone"]) == (2, 2)
    assert component("web").desired_instances == 5
    assert component("web").instances.filter(state=InstanceState.RUNNING).count() == 5
    db = component("orders-db")  # gone, not deleted: only a prune after the grace period deletes
    assert DiscoveredObject.objects.get(component=db).gone_since is not None
    assert set(db.instances.values_list("state", flat=True)) == {InstanceState.TERMINATED}


def test_a_refused_token_fails_the_run_naming_the_variable_and_writes_nothing(peer, monkeypatch):
    seed(peer)
    monkeypatch.setenv(TOKEN_VARIABLE, "a-stale-token")
    audit_before = AuditEvent.objects.count()

    run = sync_now(source=make_source(peer, namespaces=["shop", "data"]))

    assert run.state == RunState.FAILED
    assert "refused the token in ESTATE_TEST_K8S_TOKEN (HTTP 401" in run.messages[0]
    assert not Component.objects.exists() and not Instance.objects.exists()
    assert not DiscoveredObject.objects.exists()
    assert AuditEvent.objects.count() == audit_before


def test_a_refused_namespace_is_reported_and_the_others_are_written(peer):
    seed(peer)
    peer.forbidden.add("data")

    run = sync_now(source=make_source(peer, namespaces=["shop", "data"]))

    assert run.state == RunState.PARTIAL
    assert "HTTP 403" in run.region_errors["data"] and 'namespace "data"' in run.region_errors["data"]
    assert set(Component.objects.values_list("slug", flat=True)) == {"web", "nightly-report"}


def test_thousands_of_pods_are_read_in_bounded_pages(peer, monkeypatch, django_assert_max_num_queries):
    monkeypatch.setattr(kubernetes, "PAGE_SIZE", 100)
    peer.deployment("shop", "fleet", "registry.example/shop/fleet:3.1", 500)

    with django_assert_max_num_queries(40):  # set-based: the same for 5 pods or 500
        run = sync_now(source=make_source(peer, namespaces=["shop"]))

    assert run.state == RunState.SUCCEEDED, run.messages
    assert component("fleet").instances.count() == 500
    pod_pages = [limit for path, limit in peer.pages if path.endswith("/pods")]
    assert pod_pages == [100] * 5


def test_the_command_syncs_a_kubernetes_source(peer, capsys):
    peer.deployment("shop", "web", "registry.example/shop/web@sha256:" + "ab" * 32, 1)
    make_source(peer)

    call_command("discovery", "sync", "k8s-test")

    assert json.loads(capsys.readouterr().out)["state"] == RunState.SUCCEEDED
    assert component("web").current_image.version == "sha256:" + "ab" * 32


def test_the_component_page_says_which_namespace_and_cluster_and_the_schedule(peer, admin_client):
    seed(peer)
    sync_now(source=make_source(peer))

    page = admin_client.get(component("nightly-report").get_absolute_url())

    assert page.status_code == 200
    (panel,) = parse(page.content).find_all(data_testid="origin-panel")
    assert "Discovered by k8s-test (Kubernetes): Kubernetes CronJob" in panel.text
    assert f"namespace shop, cluster {peer.url.removeprefix('http://')}" in panel.text
    assert "0 3 * * *" in panel.text
