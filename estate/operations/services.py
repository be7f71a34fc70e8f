"""Starting, cancelling and resuming operations: the only writers of an operation's lifecycle outside a worker."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from estate.access import roles
from estate.audit.choices import AuditAction
from estate.audit.services import audit_record
from estate.core.errors import ApplicationError
from estate.core.services import guard_write, validated_save
from estate.inventory.choices import LIVE_INSTANCE_STATES, Mode
from estate.inventory.models import Component, Image, Instance
from estate.operations import notices
from estate.operations import params as operation_params
from estate.operations.choices import ACTIVE_STATES, COMPONENT_KINDS, OperationKind, OperationState, StepLevel
from estate.operations.engine import log_step, roll_refusal
from estate.operations.models import Operation
from estate.operations.providers import can_drive, supports
from estate.patching.selectors import CalendarState, calendar_state, utc_text

logger = logging.getLogger(__name__)

BASTION_REFUSAL = (
    "{name} is a bastion: it holds state and is patched in a maintenance window, never rebuilt or "
    "replaced by an operation. Plan a patch window instead."
)
NO_SIGNAL_REFUSAL = (
    "{name} has no health signal (no heartbeat configured), so nothing can tell whether a new instance "
    "works. Configure telemetry first, or force the operation and write down why."
)


def _refuse(message: str, field: str = "non_field_errors", status: int = 400) -> ApplicationError:
    return ApplicationError(message, errors={field: [message]}, status=status)


def _refuse_param(name: str, message: str) -> ApplicationError:
    # {"params": {"batch_size": [...]}}: the API's error body names the parameter as well as the message.
    errors = {"params": [message]} if name == "params" else {"params": {name: [message]}}
    return ApplicationError(message, errors=errors)


def _check_component(component: Component, *, forced: bool, force_reason: str) -> None:
    if component.mode == Mode.BASTION:
        raise _refuse(BASTION_REFUSAL.format(name=component.name), "component")
    if not can_drive(component):
        raise _refuse(f"Estate cannot drive the {component.get_provider_display()} provider yet.", "component")
    if component.heartbeat_period_seconds is None:
        if not forced:
            raise _refuse(NO_SIGNAL_REFUSAL.format(name=component.name), "forced")
        if not force_reason.strip():
            raise _refuse("Say why you force an operation on a component with no health signal.", "force_reason")


FORCE_REASON_MAX = Operation._meta.get_field("force_reason").max_length
FREEZE_FORCE_HINT = "An admin may force the change with a written reason."
OPERATOR_FORCE_REFUSAL = "Only an admin may force a change during a change freeze. {reason}"


def _check_calendar(component: Component, *, forced: bool, force_reason: str, requested_by) -> CalendarState | None:
    """The change calendar's answer (estate.patching.selectors.calendar_state), enforced.

    Closed: refused (409) naming the freeze and its end, unless an admin forces it with a written
    reason; an operator's force is a 403. Returns the state when a freeze is forced through.
    """
    calendar = calendar_state(component)
    if not calendar.closed:
        return None
    if not forced:
        raise _refuse(f"{calendar.reason} {FREEZE_FORCE_HINT}", "component", status=409)
    if requested_by is None or roles.role_of(requested_by) != roles.ADMIN:
        raise _refuse(OPERATOR_FORCE_REFUSAL.format(reason=calendar.reason), "forced", status=403)
    if not force_reason.strip():
        raise _refuse(f"Say why you force a change during the change freeze “{calendar.freeze.name}”.", "force_reason")
    if len(force_reason) > FORCE_REASON_MAX:
        raise _refuse(f"Keep the reason for forcing to {FORCE_REASON_MAX} characters.", "force_reason")
    return calendar


def _record_freeze_forced(operation: Operation, calendar: CalendarState) -> None:
    freeze = calendar.freeze
    audit_record(
        action=AuditAction.CHANGE_FORCED,
        obj=operation,
        changes={
            "freeze": {"id": freeze.pk, "name": freeze.name, "end": freeze.end.isoformat()},
            "force_reason": operation.force_reason,
        },
        message=f"Forced through the change freeze “{freeze.name}”: {operation.force_reason}",
    )
    log_step(
        operation,
        f"Forced through the change freeze “{freeze.name}” (until {utc_text(freeze.end)}) by "
        f"{operation.requested_by}: {operation.force_reason}",
        level=StepLevel.WARNING,
    )


def _clean_params(kind: str, component: Component, raw: dict[str, Any]) -> dict[str, Any]:
    try:
        clean = operation_params.clean(raw)
    except operation_params.ParamError as exc:
        raise _refuse_param(exc.name, exc.message) from None
    if kind == OperationKind.REPLACE_INSTANCES:
        _check_instances(component, clean)
    if clean.get("image_id") and not Image.objects.filter(pk=clean["image_id"], component=component).exists():
        raise _refuse_param("image_id", "image_id must be one of this component's images.")
    return clean


def _check_instances(component: Component, params: dict[str, Any]) -> None:
    ids = params.get("instance_ids") or []
    if not ids:
        raise _refuse_param("instance_ids", "Name the instances to replace (instance_ids).")
    live = component.instances.filter(pk__in=ids, state__in=LIVE_INSTANCE_STATES).count()
    if live != len(ids):
        raise _refuse_param("instance_ids", "Every instance to replace must be a live instance of this component.")


def operation_start(
    *,
    component: Component,
    kind: str,
    params: dict[str, Any] | None = None,
    requested_by=None,
    reason: str = "",
    forced: bool = False,
    force_reason: str = "",
    policy: str = "",
) -> Operation:
    """Record an operation and wake a worker once the transaction commits.

    Refused with the reason on a bastion (principle 3) and on an immutable component with no
    health signal unless forced with a written reason (principle 2); refused in a change freeze
    unless an admin forces it with a written reason; refused while the component has another
    operation in progress (a partial unique constraint backs that up).
    """
    guard_write(Operation(component=component))  # out of scope is refused before any other answer
    if kind not in dict(COMPONENT_KINDS):
        raise _refuse(f"Unknown kind {kind!r}; one of: {', '.join(dict(COMPONENT_KINDS))}.", "kind")
    _check_component(component, forced=forced, force_reason=force_reason)
    frozen = _check_calendar(component, forced=forced, force_reason=force_reason, requested_by=requested_by)
    if not supports(component, kind):
        label = OperationKind(kind).label.lower()
        raise _refuse(f"The {component.get_provider_display()} provider cannot {label}; roll the component.", "kind")
    if refusal := roll_refusal(component, kind):
        raise _refuse(refusal, "desired_instances")
    params = _clean_params(kind, component, params or {})
    operation = Operation(
        kind=kind,
        component=component,
        params=params,
        requested_by=requested_by,
        reason=reason,
        forced=forced,
        force_reason=force_reason.strip() if forced else "",
        policy=policy,
    )
    with transaction.atomic():
        try:
            validated_save(operation, action=AuditAction.OPERATION_STARTED, message=reason)
        except ValidationError as exc:
            raise _refuse(f"{component.name} already has an operation in progress.", status=409) from exc
        no_signal = component.heartbeat_period_seconds is None
        if forced and (no_signal or frozen is None):
            audit_record(
                action=AuditAction.OPERATION_FORCED,
                obj=operation,
                changes={"forced": True, "force_reason": operation.force_reason},
                message=operation.force_reason,
            )
        who = requested_by or (f"policy {policy}" if policy else "a script")
        log_step(operation, f"Requested by {who}" + (f": {reason}" if reason else "."))
        if forced and no_signal:
            log_step(operation, f"Forced without a health signal: {operation.force_reason}", level=StepLevel.WARNING)
        if frozen is not None:
            _record_freeze_forced(operation, frozen)
        transaction.on_commit(lambda: dispatch(operation.pk))
    return operation


def dispatch(operation_id: int) -> bool:
    """Send the wake-up message; a broker that is down is not an error, the sweep sends it later."""
    from estate.operations.tasks import run_operation

    Operation.objects.filter(pk=operation_id).update(dispatched_at=timezone.now())
    try:
        with run_operation.app.pool.acquire(block=True) as broker:
            # One attempt: kombu's own retries would hold the request for 6 s while the broker is down.
            broker.ensure_connection(max_retries=0)
        run_operation.apply_async((operation_id,), retry=False)
    except Exception:  # noqa: BLE001 - any broker failure: the row stays queued and the sweep retries
        logger.warning("operation %s: broker unavailable, the sweep will dispatch it", operation_id, exc_info=True)
        return False
    return True


def operation_cancel(*, operation: Operation, user=None) -> Operation:
    """Queued or paused: cancelled at once. Running: cancelling, and the worker stops at its next poll,
    terminating the new instances of replacements it had not finished."""
    guard_write(operation)
    who = user or "a script"
    with transaction.atomic():
        now = timezone.now()
        idle = (OperationState.QUEUED, OperationState.PAUSED)
        was = operation.state
        if Operation.objects.filter(pk=operation.pk, state__in=idle).update(
            state=OperationState.CANCELLED, finished_at=now, claim_token="", lease_expires_at=None
        ):
            log_step(operation, f"Cancelled by {who}.")
            _record_state(operation, AuditAction.OPERATION_CANCELLED, was, OperationState.CANCELLED)
            notices.operation_ended(operation, OperationState.CANCELLED, f"Cancelled by {who} before it ran on.")
        elif Operation.objects.filter(pk=operation.pk, state=OperationState.RUNNING).update(
            state=OperationState.CANCELLING
        ):
            log_step(operation, f"Cancel requested by {who}; the worker stops at its next poll.")
            # A waiting operation holds no worker: wake it now rather than at its next wake-up.
            transaction.on_commit(lambda: dispatch(operation.pk))
            _record_state(operation, AuditAction.OPERATION_CANCELLED, OperationState.RUNNING, OperationState.CANCELLING)
        else:
            operation.refresh_from_db()
            raise _refuse(
                f"The operation is {operation.get_state_display().lower()}; there is nothing to cancel.", status=409
            )
    operation.refresh_from_db()
    return operation


def _record_state(operation: Operation, action: str, before: str, after: str) -> None:
    audit_record(action=action, obj=operation, changes={"state": [before, after]})


def operation_resume(*, operation: Operation, user=None) -> Operation:
    """Continue an operation paused at a checkpoint; not into a change freeze unless it was forced."""
    guard_write(operation)
    calendar = calendar_state(operation.component)
    if calendar.closed and not operation.forced:
        raise _refuse(f"{calendar.reason} Resume it once the freeze ends.", "component", status=409)
    with transaction.atomic():
        if not Operation.objects.filter(pk=operation.pk, state=OperationState.PAUSED).update(
            state=OperationState.QUEUED
        ):
            operation.refresh_from_db()
            raise _refuse(f"The operation is {operation.get_state_display().lower()}, not paused.", status=409)
        log_step(operation, f"Resumed by {user or 'a script'}.")
        _record_state(operation, AuditAction.OPERATION_RESUMED, OperationState.PAUSED, OperationState.QUEUED)
        transaction.on_commit(lambda: dispatch(operation.pk))
    operation.refresh_from_db()
    return operation


def refuse_delete_with_active_operation(obj) -> None:
    """Delete guard: a component, or an instance being replaced or launched, may not go while an
    operation works on it.

    The operation (or its record of the replacement) would vanish with it (cascade) and a real
    provider's new instances would be left behind. The component row is locked first, so an
    operation started at the same moment either commits before this check sees it or waits for the
    delete and then finds no component.
    """
    if obj.pk is None:
        return
    if isinstance(obj, Component):
        list(Component.objects.select_for_update().filter(pk=obj.pk).values_list("pk", flat=True))
        active = Operation.objects.filter(component_id=obj.pk, state__in=ACTIVE_STATES).first()
        what = "the component"
    elif isinstance(obj, Instance):
        touching = Q(replacements__old_instance=obj) | Q(replacements__new_instance=obj)
        active = Operation.objects.filter(touching, state__in=ACTIVE_STATES).first()
        what = "the instance"
    else:
        return
    if active is not None:
        raise _refuse(
            f"{obj} is part of an operation in progress ({active.get_kind_display().lower()} #{active.pk}, "
            f"{active.get_state_display().lower()}); cancel it and wait until it has stopped before deleting "
            f"{what}.",
            status=409,
        )


def operation_sweep() -> list[int]:
    """Re-dispatch queued operations whose message never came, and held ones whose worker's lease ran out."""
    now = timezone.now()
    grace = now - timedelta(seconds=settings.OPERATIONS_REDISPATCH_SECONDS)
    queued = Operation.objects.filter(state=OperationState.QUEUED).exclude(dispatched_at__gte=grace)
    orphaned = Operation.objects.filter(
        state__in=(OperationState.RUNNING, OperationState.CANCELLING), lease_expires_at__lt=now
    ).exclude(dispatched_at__gte=grace)
    ids = list(queued.values_list("pk", flat=True)) + list(orphaned.values_list("pk", flat=True))
    for operation_id in ids:
        dispatch(operation_id)
    return ids
