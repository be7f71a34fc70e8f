"""The Kubernetes adapter: reads a cluster's workloads into SeenComponents (no database here).

Each namespace the source names is read on its own: one that fails (RBAC refuses it, it does not
exist) is reported and the others are still read. A source naming no namespace reads the whole
cluster with the all-namespaces lists, as one result for EVERYWHERE. Every list is paginated
(`limit` + `continue`), so thousands of pods are read in pages of PAGE_SIZE, never in one answer.

Answers are read as the JSON the API server sent (the client's `_preload_content=False`), not as the
client's generated models: a field a newer server adds, or omits, cannot fail the read, and
thousands of pods are not validated object by object.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from urllib.parse import urlsplit

from kubernetes import client
from kubernetes.client.rest import ApiException

from estate.core import outbound
from estate.core.errors import ApplicationError
from estate.discovery.choices import ObjectKind
from estate.discovery.models import DiscoverySource
from estate.discovery.observed import EVERYWHERE, RegionResult, SeenComponent, SeenImage, SeenInstance
from estate.inventory.choices import Category, ClusterRole, Engine, InstanceState, Mode, Provider

PAGE_SIZE = 500
MAX_PAGES = 1000  # 500,000 objects of one kind: past that the answer is refused, not read forever
TIMEOUT = (5, 30)  # connect, read (seconds): a server that does not answer is reported, not waited for
# The repository's last part names the engine when it is one of these (bitnami/postgresql, redis, ...).
ENGINE_WORDS = (
    ("postgis", Engine.POSTGRESQL),
    ("timescale", Engine.POSTGRESQL),
    ("postgres", Engine.POSTGRESQL),
    ("mariadb", Engine.MYSQL),
    ("percona", Engine.MYSQL),
    ("mysql", Engine.MYSQL),
    ("valkey", Engine.REDIS),
    ("redis", Engine.REDIS),
    ("memcached", Engine.MEMCACHED),
    ("rabbitmq", Engine.RABBITMQ),
    ("kafka", Engine.KAFKA),
    ("elasticsearch", Engine.ELASTICSEARCH),
    ("opensearch", Engine.ELASTICSEARCH),
    ("minio", Engine.MINIO),
)
ENGINE_CATEGORIES = {
    Engine.POSTGRESQL: Category.DATABASE,
    Engine.MYSQL: Category.DATABASE,
    Engine.ELASTICSEARCH: Category.DATABASE,
    Engine.REDIS: Category.CACHE,
    Engine.MEMCACHED: Category.CACHE,
    Engine.RABBITMQ: Category.QUEUE,
    Engine.KAFKA: Category.QUEUE,
    Engine.MINIO: Category.OBJECT_STORE,
}
POD_STATES = {
    "Pending": InstanceState.PENDING,
    "Running": InstanceState.RUNNING,
    "Succeeded": InstanceState.TERMINATED,
    "Failed": InstanceState.TERMINATED,
}


class KubernetesUnauthorized(ApplicationError):
    """The API server refused the token: no namespace can be read, so the run fails as a whole."""


def _variable(name: str, field: str) -> str:
    if name not in os.environ:
        raise ApplicationError(
            f"The variable {name} ({field}) is not set in the server's environment.",
            errors={field: [f"{name} is not set."]},
            status=409,
        )
    return os.environ[name]


def api_client(source: DiscoverySource) -> client.ApiClient:
    """The official client, on the address checked once now (estate.core.outbound), with the token."""
    try:
        target = outbound.check_url(source.endpoint_url)
    except (outbound.OutboundRefused, outbound.OutboundUnresolved) as exc:
        raise ApplicationError(f"endpoint_url: {exc}", errors={"endpoint_url": [str(exc)]}, status=409) from exc
    configuration = client.Configuration()
    configuration.host = target.pinned_url().rstrip("/")
    if target.scheme == "https" and not target.host_is_address:
        configuration.tls_server_name = target.host
        configuration.assert_hostname = target.host
    configuration.proxy = None  # a proxy would resolve the name again
    configuration.retries = outbound.retry(total=2, backoff_seconds=0.5, statuses=())
    configuration.verify_ssl = not source.insecure
    if source.ca_bundle_env:
        configuration.ssl_ca_cert = _ca_bundle(source.ca_bundle_env)
    configuration.api_key = {"authorization": _variable(source.token_env, "token_env")}
    configuration.api_key_prefix = {"authorization": "Bearer"}
    return client.ApiClient(configuration, header_name="Host", header_value=target.host_header)


def _ca_bundle(variable: str) -> str:
    path = _variable(variable, "ca_bundle_env")
    if not os.path.isfile(path):
        raise ApplicationError(
            f"The CA bundle {path} named by {variable} is not a readable file.",
            errors={"ca_bundle_env": [f"{path} is not a file."]},
            status=409,
        )
    return path


class KubernetesReader:
    def __init__(self, source: DiscoverySource):
        self.source = source
        self.tag_keys = source.tag_keys or {}
        api = api_client(source)
        self.apps, self.batch, self.core = client.AppsV1Api(api), client.BatchV1Api(api), client.CoreV1Api(api)
        # The cluster's label where AWS has its account: the API server's host and port.
        self.account_id = urlsplit(source.endpoint_url).netloc[:50]

    def read_all(self) -> list[RegionResult]:
        """The named namespaces side by side (each waits on the network), in the source's order."""
        namespaces = self.source.namespaces
        if not namespaces:
            return [self.read(None)]
        with ThreadPoolExecutor(max_workers=min(8, len(namespaces))) as pool:
            return list(pool.map(self.read, namespaces))

    def read(self, namespace: str | None) -> RegionResult:
        region = namespace or EVERYWHERE
        try:
            return RegionResult(region, _Workloads(self, self._lists(namespace)).components())
        except ApiException as exc:
            if exc.status == 401:
                raise KubernetesUnauthorized(
                    f"The API server refused the token in {self.source.token_env} (HTTP 401 {exc.reason}).",
                    errors={"token_env": ["Refused by the API server."]},
                    status=409,
                ) from exc
            return RegionResult(region, error=f"HTTP {exc.status} {exc.reason}: {_status_message(exc)}"[:500])
        except Exception as exc:  # any failure of one namespace is that namespace's report, never the run's end
            return RegionResult(region, error=f"{type(exc).__name__}: {exc}"[:500])

    def _lists(self, namespace: str | None) -> dict[str, list[dict]]:
        calls = {
            "deployments": (self.apps.list_namespaced_deployment, self.apps.list_deployment_for_all_namespaces),
            "statefulsets": (self.apps.list_namespaced_stateful_set, self.apps.list_stateful_set_for_all_namespaces),
            "daemonsets": (self.apps.list_namespaced_daemon_set, self.apps.list_daemon_set_for_all_namespaces),
            "cronjobs": (self.batch.list_namespaced_cron_job, self.batch.list_cron_job_for_all_namespaces),
            "pods": (self.core.list_namespaced_pod, self.core.list_pod_for_all_namespaces),
        }
        return {kind: _pages(*pair, namespace) for kind, pair in calls.items()}

    def mapped(self, labels: dict[str, str]) -> dict[str, str]:
        return {target: labels[key] for target, key in self.tag_keys.items() if labels.get(key)}


def _pages(namespaced, everywhere, namespace: str | None) -> list[dict]:
    """Every item of one list, page by page: `continue` carries on from where the last page stopped."""
    items, token = [], None
    for _ in range(MAX_PAGES):
        options = {"limit": PAGE_SIZE, "_preload_content": False, "_request_timeout": TIMEOUT}
        if token:
            options["_continue"] = token
        answer = namespaced(namespace, **options) if namespace else everywhere(**options)
        page = json.loads(answer.data)
        items += page.get("items") or []
        token = (page.get("metadata") or {}).get("continue")
        if not token:
            return items
    raise ValueError(f"More than {MAX_PAGES} pages of {PAGE_SIZE}: the list was not read to its end.")


def _status_message(exc: ApiException) -> str:
    try:
        return json.loads(exc.body).get("message", "")
    except (TypeError, ValueError, AttributeError):
        return ""


# --- from the API's objects to what Estate records ----------------------------------------------


class _Workloads:
    """One namespace's (or the cluster's) lists, mapped: pods go to the workload that owns them."""

    def __init__(self, reader: KubernetesReader, lists: dict[str, list[dict]]):
        self.reader = reader
        self.lists = lists
        self.pods = _pods_by_owner(lists["pods"])

    def components(self) -> list[SeenComponent]:
        return (
            [self._deployment(d) for d in self.lists["deployments"]]
            + [self._stateful_set(s) for s in self.lists["statefulsets"]]
            + [self._daemon_set(d) for d in self.lists["daemonsets"]]
            + [self._cron_job(c) for c in self.lists["cronjobs"]]
        )

    def seen(self, workload: dict, kind: ObjectKind, **fields) -> SeenComponent:
        meta = workload["metadata"]
        namespace, name = meta.get("namespace", "default"), meta["name"]
        return SeenComponent(
            key=f"{namespace}/{kind.value}/{name}",
            kind=kind,
            region=namespace,
            name=name,
            tags=self.reader.mapped(meta.get("labels") or {}),
            **fields,
        )

    def owned(self, workload: dict, kind: str) -> list[dict]:
        meta = workload["metadata"]
        return self.pods.get((meta.get("namespace", "default"), kind, meta["name"]), [])

    def _immutable(self, workload: dict, kind: ObjectKind, pod_spec: dict, pods: list[dict], details=None, **fields):
        container = _first_container(pod_spec)
        image = container.get("image", "")
        namespace = workload["metadata"].get("namespace", "")
        return self.seen(
            workload,
            kind,
            mode=Mode.IMMUTABLE,
            provider=Provider.KUBERNETES,
            image=_seen_image(image, pods, container.get("name")) if image else None,
            instances=[_instance(p, container.get("name")) for p in pods],
            details={"namespace": namespace, "image": image} | (details or {}),
            **fields,
        )

    def _deployment(self, d: dict) -> SeenComponent:
        spec = d.get("spec") or {}
        pod_spec = spec.get("template", {}).get("spec", {})
        pods = self.owned(d, "Deployment")
        replicas = spec.get("replicas", 1)
        return self._immutable(
            d, ObjectKind.DEPLOYMENT, pod_spec, pods, category=Category.SERVICE, desired_instances=replicas
        )

    def _daemon_set(self, d: dict) -> SeenComponent:
        pod_spec = (d.get("spec") or {}).get("template", {}).get("spec", {})
        desired = (d.get("status") or {}).get("desiredNumberScheduled", 0)
        pods = self.owned(d, "DaemonSet")
        return self._immutable(
            d, ObjectKind.DAEMONSET, pod_spec, pods, category=Category.SERVICE, desired_instances=desired
        )

    def _cron_job(self, c: dict) -> SeenComponent:
        """A job that runs on a schedule: immutable, its image the job template's, no standing instances."""
        spec = c.get("spec") or {}
        pod_spec = spec.get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec", {})
        schedule = {"schedule": spec.get("schedule", ""), "suspended": bool(spec.get("suspend"))}
        return self._immutable(c, ObjectKind.CRONJOB, pod_spec, [], category=Category.FUNCTION, details=schedule)

    def _stateful_set(self, s: dict) -> SeenComponent:
        """A bastion: it holds state (its volume claims outlive its pods), patched in place, not replaced."""
        spec = s.get("spec") or {}
        claims = spec.get("volumeClaimTemplates") or []
        image = _first_image(spec.get("template", {}).get("spec", {}))
        engine = _engine(image)
        replicas = spec.get("replicas", 1)
        return self.seen(
            s,
            ObjectKind.STATEFULSET,
            category=ENGINE_CATEGORIES.get(engine, Category.SERVICE),
            mode=Mode.BASTION,
            holds_state=True,
            engine=engine,
            engine_version=_engine_version(image, engine),
            role=ClusterRole.STANDALONE if replicas == 1 else "",
            instances=[_instance(p, None) for p in self.owned(s, "StatefulSet")],
            details={
                "namespace": s["metadata"].get("namespace", ""),
                "image": image,
                "replicas": replicas,
                "volume_claims": [(c.get("metadata") or {}).get("name", "") for c in claims],
            },
        )


def _pods_by_owner(pods: list[dict]) -> dict[tuple[str, str, str], list[dict]]:
    """{(namespace, owner kind, owner name): pods}. A Deployment's pods are owned by its ReplicaSet,
    named <deployment>-<pod-template-hash>: the hash label leads back to the Deployment without a
    list of ReplicaSets. Pods of Jobs and bare pods belong to no component."""
    owned = defaultdict(list)
    for pod in pods:
        meta = pod["metadata"]
        refs = meta.get("ownerReferences") or []
        ref = next((r for r in refs if r.get("controller")), refs[0] if refs else None)
        if ref is None:
            continue
        kind, name = ref.get("kind", ""), ref.get("name", "")
        suffix = "-" + (meta.get("labels") or {}).get("pod-template-hash", "\0")
        if kind == "ReplicaSet" and name.endswith(suffix):
            kind, name = "Deployment", name.removesuffix(suffix)
        owned[meta.get("namespace", "default"), kind, name].append(pod)
    return owned


def _first_container(pod_spec: dict) -> dict:
    """The main container: the first one (sidecars are added after it by injectors and by habit)."""
    containers = pod_spec.get("containers") or [{}]
    return containers[0]


def _first_image(pod_spec: dict) -> str:
    return _first_container(pod_spec).get("image", "")


def _tag(image: str) -> str:
    """registry:5000/shop/web:1.4.2@sha256:… → 1.4.2; no tag → latest."""
    name = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return name.split(":", 1)[1] if ":" in name else "latest"


def _digest(image_id: str) -> str:
    """The sha256:… of a pod's imageID (docker-pullable://repo@sha256:…, repo@sha256:…, sha256:…)."""
    at = image_id.find("sha256:")
    return image_id[at:] if at >= 0 else ""


def _version(image: str, digest: str) -> str:
    """An image's version: the digest it is pinned to, else its tag, unless the tag is `latest` (it moves:
    the digest the pods run is then the version), else `latest`."""
    if "@" in image:
        return image.split("@", 1)[1][:100]
    tag = _tag(image)
    return digest if tag == "latest" and digest else tag


def _pod_image(pod: dict, container: str | None) -> tuple[str, str]:
    """(the image the pod's spec names, the digest its status reports) for the named container."""
    specs = (pod.get("spec") or {}).get("containers") or []
    image = next((c.get("image", "") for c in specs if c.get("name") == container), "")
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    digest = next((_digest(c.get("imageID", "")) for c in statuses if c.get("name") == container), "")
    return image, digest


def _seen_image(image: str, pods: list[dict], container: str | None) -> SeenImage:
    """The workload's image; its reference is pinned to the digest its running pods report, if any."""
    digests = (_pod_image(p, container) for p in pods)
    digest = "" if "@" in image else next((d for i, d in digests if i == image and d), "")
    reference = f"{image}@{digest}" if digest else image
    return SeenImage(_version(image, digest), reference[:300])


def _instance(pod: dict, container: str | None) -> SeenInstance:
    """A pod as an instance; its version is that of the workload's main container in this pod
    (a bastion's pods pass no container: they carry no image)."""
    meta, status = pod["metadata"], pod.get("status") or {}
    image, digest = _pod_image(pod, container) if container else ("", "")
    return SeenInstance(
        external_id=meta["name"],
        state=_pod_state(pod),
        address=status.get("podIP", ""),
        image_version=_version(image, digest) if image else None,
        launched_at=_timestamp(status.get("startTime") or meta.get("creationTimestamp")),
    )


def _pod_state(pod: dict) -> str:
    if pod["metadata"].get("deletionTimestamp"):
        return InstanceState.TERMINATING
    return POD_STATES.get((pod.get("status") or {}).get("phase", ""), InstanceState.PENDING)


def _timestamp(value: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


def _engine_version(image: str, engine: str) -> str:
    """The tag of a known engine's image (postgres:16.2 → 16.2); nothing when it says no version."""
    tag = _tag(image)
    return "" if engine == Engine.OTHER or tag == "latest" else tag


def _engine(image: str) -> str:
    """The engine a StatefulSet runs, guessed from its image's repository name where it is obvious."""
    repository = image.split("@", 1)[0].rsplit("/", 1)[-1].split(":", 1)[0].lower()
    return next((engine for word, engine in ENGINE_WORDS if word in repository), Engine.OTHER)
