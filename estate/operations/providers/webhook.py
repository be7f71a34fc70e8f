"""The webhook provider: a signed JSON POST to the team's CI/CD per step, answered by a signed callback.

The POST is a side effect like any other: call() writes the WebhookCall row and an outbox message
(kind operations.webhook, key = request_id, so each request is queued once) in one transaction, and
the outbox sends it (send_request), one POST per attempt, with backoff until OUTBOX_MAX_ATTEMPTS. A
CI/CD that is down for a while thus gets the request once it is back; the operation waits (Snooze)
meanwhile, and fails naming the request and the last error if the outbox gives up. The address and
the secret's scope are checked again at every attempt, against the config as it is then.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from estate.core import outbound
from estate.inventory.choices import Health, InstanceState
from estate.inventory.models import Instance
from estate.operations.providers.base import OperationProvider, ProviderError, Snooze
from estate.operations.providers.signing import HEADER, provider_secret, secret_from_env, sign
from estate.outbox.choices import MessageState
from estate.outbox.models import OutboxMessage
from estate.outbox.registry import PermanentFailure
from estate.outbox.services import outbox_send

logger = logging.getLogger(__name__)
REQUEST = "operations.webhook"


class CiUnavailable(ProviderError):
    """The CI/CD could not be reached or answered 5xx/429: the outbox tries again later."""


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
        """Queue the request (once, however often this is called) and wait for its callback's answer."""
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
        call = WebhookCall.objects.filter(request_id=request_id).first()
        if call is None:
            self.refuse_address()  # fail now rather than queue a request no attempt may send
            with transaction.atomic():  # the row and its message, or neither
                call, created = WebhookCall.objects.get_or_create(
                    request_id=request_id, defaults={"operation": operation, "action": action, "request": body}
                )
                if created:
                    queue_request(call)
        return self.wait(call.pk, request_id)

    def refuse_address(self) -> None:
        """ProviderError when the configured URL is one Estate does not call (checked again at each send)."""
        refusal = outbound.url_refusal(self.url)
        if refusal:
            raise ProviderError(f"settings.url: {refusal}")

    def post(self, body: dict) -> int:
        """One POST of the signed body to the checked, pinned address; its HTTP status. Not retried here:
        the outbox tries again with backoff (a repeat is harmless: the CI/CD knows the request_id).
        CiUnavailable when the CI/CD could not take it now; ProviderError when it never will."""
        data = json.dumps(body, sort_keys=True).encode()
        headers = {"Content-Type": "application/json", HEADER: sign(self.secret, data)}
        try:
            reply = outbound.request(
                "POST", self.url, data=data, headers=headers, timeout=settings.OPERATIONS_WEBHOOK_TIMEOUT_SECONDS
            )
        except outbound.OutboundRefused as exc:
            raise ProviderError(f"settings.url: {exc}") from exc
        except (outbound.OutboundUnresolved, requests.RequestException) as exc:
            logger.warning("webhook %s: %s", body["request_id"], exc)
            raise CiUnavailable(f"The CI/CD could not be reached for {body['action']}: {exc}") from exc
        self._judge(reply, body)
        return reply.status_code

    @staticmethod
    def _judge(reply, body: dict) -> None:
        if 200 <= reply.status_code < 300:
            return
        if 300 <= reply.status_code < 400:
            # Not followed: the next hop would be an address nobody checked.
            raise ProviderError(f"The CI/CD answered {body['action']} with a redirect (HTTP {reply.status_code}).")
        if reply.status_code < 500 and reply.status_code != 429:
            raise ProviderError(f"The CI/CD refused {body['action']}: HTTP {reply.status_code}.")
        raise CiUnavailable(f"The CI/CD did not accept {body['action']}: HTTP {reply.status_code}.")

    def wait(self, call_id: int, request_id: str) -> dict:
        """The callback's answer if it came; else Snooze until the next look (the worker is given back).

        Fails when the outbox gave the request up (naming its last error), or once the callback is later
        than the callback timeout, counted from when the CI/CD accepted the request: while the request
        waits in the outbox, its retries (bounded by OUTBOX_MAX_ATTEMPTS) bound the wait instead."""
        from estate.operations.models import WebhookCall

        call = WebhookCall.objects.get(pk=call_id)
        if call.status == WebhookCall.Status.SUCCEEDED:
            return call.response
        if call.status == WebhookCall.Status.FAILED:
            raise ProviderError(f"The CI/CD reported {request_id} failed: {call.response.get('message', '')}")
        message = request_message(call)
        waiting = f"waiting for the CI/CD's callback to {request_id}"
        if message is not None and message.state == MessageState.FAILED:
            raise ProviderError(f"The outbox gave up sending {request_id} to the CI/CD: {message.last_error}")
        if message is not None and message.state != MessageState.SENT:
            # Nothing can answer before the next attempt: look again just after it.
            until_next = (message.next_attempt_at - timezone.now()).total_seconds()
            seconds = max(until_next, 0) + settings.OPERATIONS_POLL_SECONDS
            raise Snooze(seconds, f"{waiting} ({delivery_state(message)})")
        timeout = settings.OPERATIONS_WEBHOOK_CALLBACK_TIMEOUT_SECONDS
        since = message.sent_at if message is not None and message.sent_at else call.created_at
        left = (since - timezone.now()).total_seconds() + timeout
        if left <= 0:
            raise ProviderError(f"No callback for {request_id} within {timeout:g} s.")
        raise Snooze(min(settings.OPERATIONS_POLL_SECONDS, left), waiting)

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


# --- the request, through the outbox ---------------------------------------------------------


def queue_request(call) -> OutboxMessage:
    """The outbox message that sends the call's request; in the caller's transaction, once per request_id."""
    component = call.operation.component
    return outbox_send(
        kind=REQUEST,
        payload={"request_id": call.request_id},
        key=call.request_id,
        summary=f"CI/CD request {call.request_id} ({call.action}) for {component.slug}",
    )


def request_message(call) -> OutboxMessage | None:
    """The message that sends the call's request. A call written before requests went through the outbox
    and never sent (attempts 0) is queued now; one that was sent has none."""
    from estate.operations.models import WebhookCall

    message = OutboxMessage.objects.filter(kind=REQUEST, key=call.request_id).first()
    if message is None and call.status == WebhookCall.Status.SENT and not call.attempts:
        message = queue_request(call)
    return message


def delivery_state(message: OutboxMessage) -> str:
    """Where the request stands, for the operation's waiting text: "request queued", "attempt 3 failed ..."."""
    if message.state == MessageState.SENDING:
        return f"request being sent, attempt {message.attempts}"
    if not message.attempts:
        return "request queued"
    return (
        f"request not delivered yet: attempt {message.attempts} failed, {message.last_error[:120]}; "
        f"next try {message.next_attempt_at:%H:%M:%S} UTC"
    )


def send_request(payload: dict) -> dict:
    """The outbox's handler: POST the call's stored body, signed, to the component's CI/CD as configured
    now. The config, the address and the secret's scope are checked at every attempt; a refusal gives up
    at once (PermanentFailure), an unreachable or busy CI/CD is tried again later."""
    from estate.operations.models import WebhookCall
    from estate.operations.providers import provider_config

    call = WebhookCall.objects.select_related("operation__component").filter(request_id=payload["request_id"]).first()
    if call is None:
        return {"skipped": "the operation and its request are gone"}
    if call.status != WebhookCall.Status.SENT:
        return {"skipped": f"the CI/CD already answered ({call.status})"}
    if not call.operation.is_active:
        return {"skipped": f"operation #{call.operation_id} is {call.operation.get_state_display().lower()}"}
    component = call.operation.component
    config = provider_config(component)
    if component.provider != WebhookProvider.name or config is None or config.simulated:
        raise PermanentFailure(f"{component.slug} is no longer driven by the webhook provider.")
    WebhookCall.objects.filter(pk=call.pk).update(attempts=F("attempts") + 1)
    try:
        status = WebhookProvider(config=config).post(call.request)
    except CiUnavailable:
        raise
    except ProviderError as exc:
        raise PermanentFailure(str(exc)) from exc
    return {"status": status}
