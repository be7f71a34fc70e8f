"""What operations tell the owners: a failed or cancelled operation, a tripped breaker.

Called inside the transaction of the change, so the notification is queued in the outbox exactly
when the change commits (never for a change that was rolled back, never twice for one change).
"""

from __future__ import annotations

from estate.notifications.choices import NotificationEvent
from estate.notifications.services import absolute, notify
from estate.operations.choices import OperationState
from estate.operations.models import Operation, RemediationPolicy

EVENTS = {
    OperationState.FAILED: NotificationEvent.OPERATION_FAILED,
    OperationState.CANCELLED: NotificationEvent.OPERATION_CANCELLED,
}


def operation_ended(operation: Operation, state: str, error: str = "") -> None:
    event = EVENTS.get(state)
    if event is None:
        return
    what = f"{operation.get_kind_display()} of {operation.component.name}"
    verb = "failed" if state == OperationState.FAILED else "was cancelled"
    notify(
        event=event,
        key=f"operation-{operation.pk}-{state}",
        subject=f"{what} {verb}",
        text=error or f"Operation #{operation.pk} {verb}.",
        component_ids=[operation.component_id],
        link=absolute(operation.get_absolute_url()),
    )


def breaker_tripped(policy: RemediationPolicy) -> None:
    notify(
        event=NotificationEvent.BREAKER_TRIPPED,
        key=f"policy-{policy.pk}-breaker-{int(policy.breaker_open_since.timestamp())}",
        subject=f"Remediation of {policy.component.name} stopped: circuit breaker open",
        text=policy.breaker_reason,
        component_ids=[policy.component_id],
        link=absolute(policy.component.get_absolute_url()),
    )
