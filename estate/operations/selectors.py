from __future__ import annotations

from django.db.models import CharField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Cast
from django.utils import timezone

from estate.access import scope
from estate.audit.choices import AuditAction
from estate.audit.models import AuditEvent
from estate.inventory.choices import LIVE_INSTANCE_STATES, Mode
from estate.operations.choices import ACTIVE_STATES
from estate.operations.models import Operation, OperationStep, RemediationPolicy, Replacement
from estate.operations.providers import is_simulated


def operation_list() -> QuerySet:
    """Operations with what every page shows of them, `requested_via` included (see requester_label)."""
    return Operation.objects.select_related("component", "component__environment", "requested_by").annotate(
        requested_via=_started_via()
    )


def _started_via() -> Subquery:
    # How the request came in ("session", "token:<name>") is recorded on the operation's start event;
    # the audit index on (object_type, object_id, at) makes this one index probe per row shown.
    started = AuditEvent.objects.filter(
        object_type="operations.operation",
        object_id=Cast(OuterRef("pk"), CharField()),
        action=AuditAction.OPERATION_STARTED,
    ).order_by("at", "id")
    return Subquery(started.values("via")[:1])


def requester_label(operation: Operation) -> str:
    """Who asked for it, worded the same on every page: "admin", "policy replace_tainted",
    "a script (token ci-deploy)", or "a script" when nobody is recorded."""
    if operation.policy:
        return f"policy {operation.policy}"
    via = getattr(operation, "requested_via", None) or ""
    if via.startswith("token"):
        name = via.partition(":")[2]
        return f"a script (token {name})" if name else "a script (token)"
    if operation.requested_by_id:
        return operation.requested_by.get_username()
    return "a script"


def operation_steps(operation: Operation, *, after: int = 0) -> QuerySet:
    return OperationStep.objects.filter(operation=operation, id__gt=after).order_by("id")


def timed_steps(operation: Operation) -> list[OperationStep]:
    """The steps, each with `seconds`: the time until the next step (the last: until the end, or now)."""
    steps = list(operation_steps(operation))
    last = operation.finished_at or timezone.now()
    ends = [s.created_at for s in steps[1:]] + [last]
    for step, end in zip(steps, ends, strict=False):  # no steps: no ends to pair
        step.seconds = max((end - step.created_at).total_seconds(), 0.0)
    return steps


def operation_replacements(operation: Operation) -> QuerySet:
    """Which instance each replacement took away and which it launched, batch by batch."""
    return (
        Replacement.objects.filter(operation=operation)
        .select_related("old_instance", "new_instance", "new_instance__image")
        .order_by("batch", "id")
    )


def component_panel(request, component) -> dict:
    """Recent operations of an immutable component, its active one and its policy; nothing for a bastion."""
    if component.mode != Mode.IMMUTABLE:
        return {"component": component, "show": False}
    recent = list(operation_list().filter(component=component)[:5])
    return {
        "component": component,
        "show": True,
        "recent": recent,
        "active": next((op for op in recent if op.state in ACTIVE_STATES), None),
        "policy": RemediationPolicy.objects.filter(component=component).first(),
        "can_start": request.user.has_perm("operations.add_operation") and scope.allows(request.user, component),
        "simulated": is_simulated(component),
        "live_instances": component.instances.filter(state__in=LIVE_INSTANCE_STATES).order_by("external_id")[:200],
        "live_count": component.instances.filter(state__in=LIVE_INSTANCE_STATES).count(),
        # Scaling writes the component: the inventory's permission, in the person's scope.
        "can_scale": request.user.has_perm("inventory.change_component") and scope.allows(request.user, component),
    }
