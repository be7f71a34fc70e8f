"""The demo estate's operations: every immutable component driven by the sandbox, policies on, some history.

Run after load_demo_inventory(); safe to run again.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from estate.inventory.choices import Mode
from estate.inventory.models import Component
from estate.operations.choices import OperationKind, OperationState, StepLevel
from estate.operations.models import Operation, OperationStep, ProviderConfig, RemediationPolicy

# Where the demo shows Estate stopping for a person (staging), so that every finding kind appears.
BREAKER_OPEN = "ledger-worker"
REBUILD_DISABLED = "fraud-scorer"

HISTORY = {
    "catalog-api": (OperationKind.ROLL_COMPONENT, OperationState.SUCCEEDED, ""),
    "payments-api": (OperationKind.REBUILD_IMAGE, OperationState.FAILED, "Sandbox image build failed (simulated)."),
    "auth-api": (OperationKind.REPLACE_INSTANCES, OperationState.SUCCEEDED, ""),
}


@transaction.atomic
def load_demo_operations() -> int:
    """Simulate every immutable demo component, switch its policies on, add a little history."""
    components = list(Component.objects.filter(mode=Mode.IMMUTABLE).select_related("environment"))
    for component in components:
        ProviderConfig.objects.update_or_create(component=component, defaults={"simulated": True})
        _policy(component)
        if component.slug in HISTORY and component.environment.slug == "production":
            _history(component, *HISTORY[component.slug])
        if component.environment.slug == "staging":
            _stopped_for_a_person(component)
    return len(components)


def _stopped_for_a_person(component: Component) -> None:
    if component.slug == BREAKER_OPEN:
        RemediationPolicy.objects.filter(component=component).update(
            failed_remediations=3,
            breaker_open_since=timezone.now() - timedelta(hours=3),
            breaker_reason=f"3 remediations in a row did not bring {component.name} back (instances are unhealthy "
            "again after a replacement); Estate stopped replacing. Investigate, then close the breaker.",
        )
    if component.slug == REBUILD_DISABLED:
        RemediationPolicy.objects.filter(component=component).update(
            rebuild_failures=3,
            rebuild_disabled_reason="Disabled itself after 3 failed rebuilds in a row; last: the base image's "
            "package mirror answered 404.",
        )


def _policy(component: Component) -> None:
    RemediationPolicy.objects.update_or_create(
        component=component,
        defaults={
            "replace_tainted": True,
            "replace_unhealthy_after_minutes": 15,
            "roll_older_than_max_age": True,
            "roll_on_new_image": True,
            "rebuild_every_days": 14,
            "last_rebuild_at": timezone.now() - timedelta(days=2),
            # The demo's images are already rolled out where they should be; a new one will roll.
            "rolled_image": component.current_image,
        },
    )


def _history(component: Component, kind: str, state: str, error: str) -> None:
    if component.operations.exists():
        return
    started = timezone.now() - timedelta(days=2, minutes=30)
    total = 1 if kind == OperationKind.REBUILD_IMAGE else component.desired_instances or 1
    done = total if state == OperationState.SUCCEEDED else 0
    op = Operation.objects.create(
        kind=kind,
        component=component,
        params={} if kind == OperationKind.REBUILD_IMAGE else {"batch_size": 1},
        reason="demo history",
        state=state,
        progress_done=done,
        progress_total=total,
        started_at=started,
        finished_at=started + timedelta(minutes=6),
        error=error,
        attempts=1,
    )
    OperationStep.objects.create(operation=op, message="Requested by demo: demo history")
    if error:
        OperationStep.objects.create(operation=op, message=f"Failed: {error}", level=StepLevel.ERROR)
    else:
        for n in range(1, total + 1):
            OperationStep.objects.create(operation=op, batch=n, message=f"Batch {n}: 1 instance(s) replaced.")
        OperationStep.objects.create(operation=op, message="Every instance replaced.")
