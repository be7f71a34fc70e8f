"""The webhook executor: each action is a signed request to the team's own automation (AWX, Rundeck),
answered by a signed callback, through the webhook provider's protocol (WebhookCall, the outbox, and
/operations/callback/). The run's component names the address and the secret in its provider config.
"""

from __future__ import annotations

from django.conf import settings

from estate.operations.providers import ProviderError, provider_config
from estate.operations.providers.webhook import WebhookProvider
from estate.runbooks.executors.base import Executor, ExecutorError, Member


class WebhookExecutor(Executor):
    name = "webhook"

    @classmethod
    def available_actions(cls) -> tuple[str, ...]:
        return tuple(settings.RUNBOOK_WEBHOOK_ACTIONS)

    def provider(self) -> WebhookProvider:
        try:
            return WebhookProvider(config=provider_config(self.operation.component))
        except ProviderError as exc:
            raise ExecutorError(str(exc)) from exc

    def act(self, action: str, node: str, params: dict, idempotency_key: str, *, timeout: float) -> dict:
        # Snooze propagates: the run waits for the callback without holding a worker.
        try:
            return self.provider().call(self.operation, action, idempotency_key, {"node": node, "params": params})
        except ProviderError as exc:
            raise ExecutorError(str(exc)) from exc

    def facts(self, component, *, key: str) -> list[Member]:
        try:
            answer = self.provider().call(self.operation, "facts", key, {"node": ""})
        except ProviderError as exc:
            raise ExecutorError(str(exc)) from exc
        return [Member.parse(m) for m in answer.get("members", [])[:50]]
