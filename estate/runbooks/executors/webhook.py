"""The webhook executor: each action is a signed request to the team's own automation (AWX, Rundeck),
answered by a signed callback to /operations/callback/.

It speaks the webhook provider's protocol with its pieces: a WebhookCall row per request (request_id
from the run, the step and the node: the idempotency key, so a resumed step finds its call and answer),
the provider's signed POST, and its callback check. The request goes through the outbox under its own
kind (runbooks.webhook): a bastion has no provider of its own, so the run's component names the address
and the secret in its provider config ({"url": ...} and secret_env), checked again at every attempt.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from estate.operations.models import WebhookCall
from estate.operations.providers import ProviderError, provider_config
from estate.operations.providers.base import Snooze
from estate.operations.providers.webhook import CiUnavailable, WebhookProvider, delivery_state
from estate.outbox.choices import MessageState
from estate.outbox.models import OutboxMessage
from estate.outbox.registry import PermanentFailure
from estate.outbox.services import outbox_send
from estate.runbooks.executors.base import Executor, ExecutorError, Member

REQUEST = "runbooks.webhook"


class WebhookExecutor(Executor):
    name = "webhook"

    @classmethod
    def available_actions(cls) -> tuple[str, ...]:
        return tuple(settings.RUNBOOK_WEBHOOK_ACTIONS)

    def act(self, action: str, node: str, params: dict, idempotency_key: str, *, timeout: float) -> dict:
        return self.call(action, idempotency_key, {"node": node, "params": params})

    def facts(self, component, *, key: str) -> list[Member]:
        answer = self.call("facts", key, {"node": ""})
        members = answer.get("members", [])
        return [Member.parse(m) for m in members[:50]] if isinstance(members, list) else []

    # --- the protocol ------------------------------------------------------------------------
    def call(self, action: str, key: str, payload: dict) -> dict:
        """Queue the request once (however often a resumed step asks) and wait for its callback (Snooze)."""
        op = self.operation
        request_id = f"op{op.pk}-{action}-{key}"[:100]
        call = WebhookCall.objects.filter(request_id=request_id).first()
        if call is None:
            self.provider().refuse_address_or_raise()
            body = {"request_id": request_id, "action": action, "operation": op.pk, "component": op.component.slug,
                    "callback_url": settings.OPERATIONS_WEBHOOK_CALLBACK_URL, **payload}  # fmt: skip
            with transaction.atomic():  # the row and its message, or neither
                call, created = WebhookCall.objects.get_or_create(
                    request_id=request_id, defaults={"operation": op, "action": action[:30], "request": body}
                )
                if created:
                    outbox_send(kind=REQUEST, payload={"request_id": request_id}, key=request_id,
                                summary=f"Runbook request {request_id} for {op.component.slug}")  # fmt: skip
        return self.wait(call)

    def provider(self) -> _Provider:
        try:
            return _Provider(config=provider_config(self.operation.component))
        except ProviderError as exc:
            raise ExecutorError(str(exc)) from exc

    def wait(self, call: WebhookCall) -> dict:
        call.refresh_from_db()
        if call.status == WebhookCall.Status.SUCCEEDED:
            return call.response
        if call.status == WebhookCall.Status.FAILED:
            raise ExecutorError(f"The automation reported {call.request_id} failed: {call.response.get('message', '')}")
        message = OutboxMessage.objects.filter(kind=REQUEST, key=call.request_id).first()
        waiting = f"waiting for the automation's callback to {call.request_id}"
        if message is not None and message.state == MessageState.FAILED:
            raise ExecutorError(f"The outbox gave up sending {call.request_id}: {message.last_error}")
        if message is not None and message.state != MessageState.SENT:
            until_next = (message.next_attempt_at - timezone.now()).total_seconds()
            raise Snooze(
                max(until_next, 0) + settings.OPERATIONS_POLL_SECONDS, f"{waiting} ({delivery_state(message)})"
            )
        timeout = settings.OPERATIONS_WEBHOOK_CALLBACK_TIMEOUT_SECONDS
        since = message.sent_at if message is not None and message.sent_at else call.created_at
        left = (since - timezone.now()).total_seconds() + timeout
        if left <= 0:
            raise ExecutorError(f"No callback for {call.request_id} within {timeout:g} s.")
        raise Snooze(min(settings.OPERATIONS_POLL_SECONDS, left), waiting)


class _Provider(WebhookProvider):
    """The provider's signed POST, for a runbook's request."""

    def refuse_address_or_raise(self) -> None:
        try:
            self.refuse_address()
        except ProviderError as exc:
            raise ExecutorError(str(exc)) from exc


def send_request(payload: dict) -> dict:
    """The outbox's handler: POST the call's stored body, signed, to the address the component's provider config
    names now. A refusal (address, secret) gives up at once; an unreachable automation is tried again later."""
    call = WebhookCall.objects.select_related("operation__component").filter(request_id=payload["request_id"]).first()
    if call is None:
        return {"skipped": "the run and its request are gone"}
    if call.status != WebhookCall.Status.SENT:
        return {"skipped": f"the automation already answered ({call.status})"}
    if not call.operation.is_active:
        return {"skipped": f"run #{call.operation_id} is {call.operation.get_state_display().lower()}"}
    WebhookCall.objects.filter(pk=call.pk).update(attempts=F("attempts") + 1)
    try:
        status = _Provider(config=provider_config(call.operation.component)).post(call.request)
    except CiUnavailable:
        raise
    except ProviderError as exc:
        raise PermanentFailure(str(exc)) from exc
    return {"status": status}
