"""The webhook provider: a signed JSON POST to the team's CI/CD per step, answered by a signed callback."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from estate.core import outbound
from estate.inventory.choices import Health, InstanceState
from estate.inventory.models import Instance
from estate.operations.providers.base import OperationProvider, ProviderError, Snooze
from estate.operations.providers.signing import HEADER, provider_secret, secret_from_env, sign

logger = logging.getLogger(__name__)


class WebhookProvider(OperationProvider):
    name = "webhook"

    def __init__(self, *, config=None):
        self.config = config
        self.url = (config.settings.get("url") if config else "") or ""
        if not self.url:
            raise ProviderError("The webhook provider needs a url in its config and a secret in its secret_env.")
        self.secret = provider_secret(config, required=True)

    # --- the protocol ------------------------------------------------------------------------
    def call(self, operation, action: str, key: str, payload: dict) -> dict:
        """Send the request (once, however often this is called) and wait for its callback's answer."""
        from estate.operations.models import WebhookCall

        request_id = f"op{operation.pk}-{action}-{key}"
        body = {
            "request_id": request_id,
            "action": action,
            "operation": operation.pk,
            "component": operation.component.slug,
            "environment": operation.component.environment.slug,
            "callback_url": settings.OPERATIONS_WEBHOOK_CALLBACK_URL,
            **payload,
        }
        call, _ = WebhookCall.objects.get_or_create(
            request_id=request_id, defaults={"operation": operation, "action": action, "request": body}
        )
        if call.status == WebhookCall.Status.SENT and not call.attempts:
            self.post(body)
            WebhookCall.objects.filter(pk=call.pk).update(attempts=1)
        return self.wait(call.pk, request_id)

    def post(self, body: dict) -> None:
        """POST the signed body to the checked, pinned address; urllib3 retries connection errors, 5xx
        and 429 with exponential backoff (a repeat is harmless: the CI/CD knows the request_id)."""
        data = json.dumps(body, sort_keys=True).encode()
        headers = {"Content-Type": "application/json", HEADER: sign(self.secret, data)}
        attempts = settings.OPERATIONS_WEBHOOK_RETRIES + 1
        retries = outbound.retry(
            total=settings.OPERATIONS_WEBHOOK_RETRIES, backoff_seconds=settings.OPERATIONS_WEBHOOK_BACKOFF_SECONDS
        )
        try:
            reply = outbound.request(
                "POST", self.url, data=data, headers=headers, retries=retries,
                timeout=settings.OPERATIONS_WEBHOOK_TIMEOUT_SECONDS,
            )  # fmt: skip
        except outbound.OutboundRefused as exc:
            raise ProviderError(f"settings.url: {exc}") from exc
        except (outbound.OutboundUnresolved, requests.RequestException) as exc:
            logger.warning("webhook %s: %s", body["request_id"], exc)
            raise ProviderError(f"The CI/CD did not accept {body['action']} after {attempts} attempts.") from exc
        self._judge(reply, body, attempts)

    @staticmethod
    def _judge(reply, body: dict, attempts: int) -> None:
        if 200 <= reply.status_code < 300:
            return
        if 300 <= reply.status_code < 400:
            # Not followed: the next hop would be an address nobody checked.
            raise ProviderError(f"The CI/CD answered {body['action']} with a redirect (HTTP {reply.status_code}).")
        if reply.status_code < 500 and reply.status_code != 429:
            raise ProviderError(f"The CI/CD refused {body['action']}: HTTP {reply.status_code}.")
        raise ProviderError(
            f"The CI/CD did not accept {body['action']} after {attempts} attempts: HTTP {reply.status_code}."
        )

    def wait(self, call_id: int, request_id: str) -> dict:
        """The callback's answer if it came; else Snooze until the next look (the worker is given back),
        or a failure once the call is older than the callback timeout (its row keeps when it was made)."""
        from estate.operations.models import WebhookCall

        call = WebhookCall.objects.get(pk=call_id)
        if call.status == WebhookCall.Status.SUCCEEDED:
            return call.response
        if call.status == WebhookCall.Status.FAILED:
            raise ProviderError(f"The CI/CD reported {request_id} failed: {call.response.get('message', '')}")
        timeout = settings.OPERATIONS_WEBHOOK_CALLBACK_TIMEOUT_SECONDS
        left = (call.created_at - timezone.now()).total_seconds() + timeout
        if left <= 0:
            raise ProviderError(f"No callback for {request_id} within {timeout:g} s.")
        raise Snooze(min(settings.OPERATIONS_POLL_SECONDS, left), f"waiting for the CI/CD's callback to {request_id}")

    # --- the interface -----------------------------------------------------------------------
    def build_image(self, operation) -> dict:
        answer = self.call(operation, "build_image", "image", {})
        if not answer.get("version") or not answer.get("reference"):
            raise ProviderError("The build callback must carry the image's version and reference.")
        return {"version": answer["version"], "reference": answer["reference"]}

    def launch(self, operation, replacement, image) -> Instance:
        old = replacement.old_instance  # None: a launch that brings the component up to its desired count
        payload = {"replaces": old.external_id if old else None, "image": image.reference if image else None}
        answer = self.call(operation, "launch", f"r{replacement.pk}", payload)
        if not answer.get("external_id"):
            raise ProviderError("The launch callback must carry the new instance's external_id.")
        with transaction.atomic():
            instance, _ = Instance.objects.get_or_create(
                component_id=operation.component_id,
                external_id=answer["external_id"],
                defaults={"image": image, "state": InstanceState.PENDING, "address": answer.get("address", "")},
            )
        return instance

    def refresh(self, operation, instances: Sequence) -> None:
        """Health comes from telemetry; the callbacks only say that an instance exists. So telemetry is
        also what says a new one has booted: a pending instance that reports healthy is running."""
        Instance.objects.filter(
            pk__in=[i.pk for i in instances], state=InstanceState.PENDING, health=Health.HEALTHY
        ).update(state=InstanceState.RUNNING)

    def terminate(self, operation, instances: Sequence) -> None:
        ids = sorted(i.external_id for i in instances)
        if not ids:
            return
        self.call(operation, "terminate", "-".join(str(i.pk) for i in sorted(instances, key=lambda i: i.pk))[:60],
                  {"instances": ids})  # fmt: skip
        Instance.objects.filter(pk__in=[i.pk for i in instances]).update(
            state=InstanceState.TERMINATED, health=Health.UNKNOWN, updated_at=timezone.now()
        )


def record_callback(body: bytes, signature: str) -> tuple[int, str]:
    """Check a callback's signature against its operation's secret and record the answer; (status, message)."""
    from estate.operations.models import WebhookCall
    from estate.operations.providers import provider_config
    from estate.operations.providers.signing import verify

    try:
        data = json.loads(body)
        call = WebhookCall.objects.select_related("operation__component").get(request_id=data["request_id"])
    except (ValueError, KeyError, TypeError):
        return 400, "The body must be JSON with a request_id."
    except WebhookCall.DoesNotExist:
        return 404, "No such request."
    if not verify(secret_from_env(provider_config(call.operation.component)), body, signature):
        return 403, "Bad signature."
    status = WebhookCall.Status.SUCCEEDED if data.get("status") == "succeeded" else WebhookCall.Status.FAILED
    WebhookCall.objects.filter(pk=call.pk, status=WebhookCall.Status.SENT).update(
        status=status, response=data, answered_at=timezone.now()
    )
    return 200, "Recorded."
