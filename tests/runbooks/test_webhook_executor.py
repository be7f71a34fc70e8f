"""The webhook executor: each action a signed request to the team's automation, answered by a signed callback
(the webhook provider's fake CI/CD on loopback, and the live server taking the callbacks)."""

from __future__ import annotations

import pytest

from estate.operations import services as operation_services
from estate.operations.choices import OperationState
from estate.operations.models import ProviderConfig, WebhookCall
from estate.outbox import services as outbox
from estate.outbox.models import OutboxMessage
from estate.runbooks import services
from estate.runbooks.executors import webhook
from tests.factories import BastionComponentFactory
from tests.operations import conftest as operations_conftest
from tests.operations.conftest import run_to_end
from tests.operations.test_webhook_provider import FakeCI, ci, loopback_ci  # noqa: F401  (the fake CI/CD)
from tests.runbooks.conftest import open_occurrence, template


def deliver_runbook_requests() -> list[str]:
    """What an outbox worker would do now for the runbooks' requests: send those that are due."""
    due = OutboxMessage.objects.filter(pk__in=outbox.outbox_due(), kind=webhook.REQUEST)
    return [outbox.outbox_deliver(pk) for pk in due.order_by("pk").values_list("pk", flat=True)]


# Callbacks reach the live server on its own thread: PostgreSQL, as in the webhook provider's tests.
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_each_action_is_a_signed_request_answered_by_a_signed_callback(ci: FakeCI, requester, monkeypatch):  # noqa: F811
    monkeypatch.setattr(services, "dispatch", lambda op_id: None)
    monkeypatch.setattr(operation_services, "dispatch", lambda op_id: None)
    monkeypatch.setattr(operations_conftest, "deliver_webhook_requests", deliver_runbook_requests)
    database = BastionComponentFactory(name="orders-db")
    ProviderConfig.objects.create(component=database, settings={"url": ci.url}, secret_env="ESTATE_TEST_WEBHOOK_SECRET")
    steps = [{"type": "action", "name": "patch it", "action": "patch", "params": {"package": "postgresql-16"}},
             {"type": "action", "name": "reboot it", "action": "reboot"}]  # fmt: skip
    run = services.run_start(occurrence=open_occurrence([database]), requested_by=requester,
                             template=template(steps, executor="webhook"))  # fmt: skip
    op = run_to_end(run.operation)
    assert op.state == OperationState.SUCCEEDED, op.error
    asked = [(r["action"], r.get("node"), r.get("params")) for r in ci.requests if r["action"] != "facts"]
    assert asked == [("patch", "orders-db", {"package": "postgresql-16"}), ("reboot", "orders-db", {})]
    assert ci.bad_signatures == 0
    keys = set(WebhookCall.objects.filter(operation=op).values_list("request_id", flat=True))
    assert {f"op{op.pk}-patch-run{op.pk}-s0-orders-db", f"op{op.pk}-reboot-run{op.pk}-s1-orders-db"} <= keys
