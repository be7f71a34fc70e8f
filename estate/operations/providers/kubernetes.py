"""The kubernetes provider: a roll is a patch of the Deployment's pod template; Kubernetes replaces the pods.

Connection settings come from the provider config (host, namespace, deployment, container; optional
ca_cert, the cluster CA's PEM, and verify_ssl) and the bearer token from the environment variable it
names; nothing secret is stored. The host is checked and pinned by estate.core.outbound when the
provider is made (once per run of an operation).
"""

from __future__ import annotations

from kubernetes import client
from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError

from estate.core import outbound
from estate.operations.choices import OperationKind
from estate.operations.providers.base import OperationProvider, ProviderError
from estate.operations.providers.signing import provider_secret

ANNOTATION = "estate.operations/operation"


def _checked(host: str) -> outbound.Target:
    """The API server's address checked and resolved now, once, for the whole operation."""
    try:
        return outbound.check_url(host)
    except outbound.OutboundRefused as exc:
        raise ProviderError(f"settings.host: {exc}") from exc
    except outbound.OutboundUnresolved as exc:
        raise ProviderError(f"Kubernetes: {exc}") from exc


def _pinned_configuration(target: outbound.Target) -> client.Configuration:
    """The client connects to the pinned address; TLS (SNI, certificate) and Host keep the name.
    No proxy (it would resolve the name again) and no redirects (the next hop is unchecked)."""
    configuration = client.Configuration()
    configuration.host = target.pinned_url().rstrip("/")
    if target.scheme == "https" and not target.host_is_address:
        configuration.tls_server_name = target.host
        configuration.assert_hostname = target.host
    configuration.proxy = None
    configuration.retries = outbound.retry(total=2, backoff_seconds=0.5, statuses=())
    return configuration


class KubernetesProvider(OperationProvider):
    name = "kubernetes"
    kinds = (OperationKind.ROLL_COMPONENT,)
    rolls_itself = True

    def __init__(self, *, config=None):
        settings = config.settings if config else {}
        missing = [key for key in ("host", "namespace", "deployment", "container") if not settings.get(key)]
        if missing:
            raise ProviderError(f"The kubernetes provider needs {', '.join(missing)} in its config.")
        self.namespace, self.deployment = settings["namespace"], settings["deployment"]
        self.container = settings["container"]
        target = _checked(settings["host"])
        configuration = _pinned_configuration(target)
        configuration.verify_ssl = settings.get("verify_ssl", True)
        # The cluster's own CA (PEM), as a kubeconfig's certificate-authority-data holds it decoded.
        configuration.ca_cert_data = settings.get("ca_cert") or None
        token = provider_secret(config, required=False)
        if token:
            configuration.api_key = {"authorization": token}
            configuration.api_key_prefix = {"authorization": "Bearer"}
        api = client.ApiClient(configuration, header_name="Host", header_value=target.host_header)
        self.apps = client.AppsV1Api(api)

    def _k8s(self, call, *args, **kwargs):
        try:
            return call(*args, **kwargs)
        except ApiException as exc:
            raise ProviderError(f"Kubernetes: HTTP {exc.status} {exc.reason}") from exc
        except HTTPError as exc:
            raise ProviderError(f"Kubernetes: {exc}") from exc

    def start_rollout(self, operation, image) -> None:
        """Point the container at the image; the annotation makes a rollout even when the image is unchanged."""
        self._point_at(image.reference, str(operation.pk))

    def undo_rollout(self, operation, reference: str) -> None:
        """Point the container back at the image it ran before (what `kubectl rollout undo` does)."""
        self._point_at(reference, f"{operation.pk}-undo")

    def _point_at(self, reference: str, mark: str) -> None:
        body = {
            "spec": {
                "template": {
                    "metadata": {"annotations": {ANNOTATION: mark}},
                    "spec": {"containers": [{"name": self.container, "image": reference}]},
                }
            }
        }
        self._k8s(self.apps.patch_namespaced_deployment, self.deployment, self.namespace, body)

    def current_reference(self) -> str:
        """The image the Deployment's container runs now: what an undo goes back to."""
        deployment = self._k8s(self.apps.read_namespaced_deployment, self.deployment, self.namespace)
        for container in deployment.spec.template.spec.containers or []:
            if container.name == self.container:
                return container.image or ""
        raise ProviderError(f"Kubernetes: the Deployment {self.deployment} has no container {self.container}.")

    def rollout_status(self) -> tuple[int, int, bool]:
        """(updated replicas, desired replicas, finished) as `kubectl rollout status` judges it."""
        deployment = self._k8s(self.apps.read_namespaced_deployment_status, self.deployment, self.namespace)
        desired = deployment.spec.replicas or 0
        status = deployment.status
        updated = status.updated_replicas or 0
        observed = (status.observed_generation or 0) >= (deployment.metadata.generation or 0)
        finished = (
            observed
            and updated == desired
            and (status.available_replicas or 0) == desired
            and (status.replicas or 0) == desired
        )
        return min(updated, desired), desired, finished

    def build_image(self, operation) -> dict:
        raise ProviderError("Kubernetes components get their images from CI; register the image, then roll.")

    def launch(self, operation, replacement, image):
        raise ProviderError("Kubernetes replaces pods itself; roll the component instead.")

    def terminate(self, operation, instances) -> None:
        raise ProviderError("Kubernetes replaces pods itself; roll the component instead.")


__all__ = ["KubernetesProvider"]
