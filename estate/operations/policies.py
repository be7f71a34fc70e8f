"""Policies: what Estate replaces or rebuilds on its own, within a budget and behind a circuit breaker.

Evaluated by beat. A policy never acts on a component whose bastion dependency is inside a
patch window (its health is expected to wobble) nor on one in a change freeze, never spends
more than the hourly budget, and stops for a person (a finding) when its replacements do not
bring the component back.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from estate.audit.choices import AuditAction
from estate.audit.context import acting_as
from estate.audit.services import audit_record, diff
from estate.core.errors import ApplicationError
from estate.core.services import guard_write
from estate.inventory.choices import LIVE_INSTANCE_STATES, Health, Mode
from estate.inventory.models import Component, Instance
from estate.operations import notices
from estate.operations.choices import ACTIVE_STATES, OperationKind, OperationState
from estate.operations.models import Operation, RemediationPolicy, Replacement
from estate.patching.selectors import calendar_state

logger = logging.getLogger(__name__)

REMEDIATIONS = ("replace_tainted", "replace_unhealthy")


def active_policies() -> QuerySet:
    return (
        RemediationPolicy.objects.filter(component__mode=Mode.IMMUTABLE, breaker_open_since__isnull=True)
        .filter(
            Q(replace_tainted=True)
            | Q(replace_unhealthy_after_minutes__isnull=False)
            | Q(roll_older_than_max_age=True)
            | Q(roll_on_new_image=True)
            | Q(rebuild_every_days__isnull=False, rebuild_disabled_reason="")
        )
        .exclude(component__operations__state__in=ACTIVE_STATES)
        .select_related("component", "component__current_image")
    )


def blocked_by_patch_window(component: Component) -> bool:
    return component.depends_on.filter(mode=Mode.BASTION, health=Health.MAINTENANCE).exists()


def replacements_in_last_hour(component: Component) -> int:
    since = timezone.now() - timedelta(hours=1)
    return Replacement.objects.filter(
        operation__component=component, operation__created_at__gte=since, operation__policy__in=REMEDIATIONS
    ).count()


def _live(component: Component) -> QuerySet:
    return Instance.objects.filter(component=component, state__in=LIVE_INSTANCE_STATES)


def _unhealthy(policy: RemediationPolicy) -> QuerySet:
    since = timezone.now() - timedelta(minutes=policy.replace_unhealthy_after_minutes)
    return (
        _live(policy.component)
        .filter(health=Health.DOWN)
        .filter(Q(last_seen_at__lt=since) | Q(last_seen_at__isnull=True, launched_at__lt=since))
    )


def _too_old(component: Component) -> QuerySet:
    if not component.max_instance_age_days:
        return Instance.objects.none()
    return _live(component).filter(launched_at__lt=timezone.now() - timedelta(days=component.max_instance_age_days))


def evaluate(policy: RemediationPolicy) -> Operation | None:
    """The one operation this policy starts now, if any (one at a time per component).

    What it writes is recorded as done by "policy:<component slug>", not by an anonymous system.
    """
    with acting_as(f"policy:{policy.component.slug}"):
        return _evaluate(policy)


def blocked_by_freeze(component: Component) -> bool:
    """A freeze holds policies too: they wait, start nothing and count nothing towards the breaker."""
    calendar = calendar_state(component)
    if calendar.closed:
        logger.info("policies on %s wait: %s", component.slug, calendar.reason)
    return calendar.closed


def _evaluate(policy: RemediationPolicy) -> Operation | None:
    component = policy.component
    # Before any decision: deciding writes (the breaker count, the image rolled, the rebuild clock).
    if blocked_by_patch_window(component) or blocked_by_freeze(component):
        return None
    for name, decide in (
        ("replace_tainted", _decide_tainted),
        ("replace_unhealthy", _decide_unhealthy),
        ("roll_on_new_image", _decide_new_image),
        ("roll_max_age", _decide_max_age),
        ("rebuild", _decide_rebuild),
    ):
        plan = decide(policy)
        if plan:
            return _start(policy, name, *plan)
    return None


def _decide_tainted(policy: RemediationPolicy):
    if not policy.replace_tainted:
        return None
    ids = list(_live(policy.component).filter(tainted=True).values_list("pk", flat=True))
    return _remediation(policy, ids, "tainted instance(s) must be replaced (principle 1)")


def _decide_unhealthy(policy: RemediationPolicy):
    if policy.replace_unhealthy_after_minutes is None:
        return None
    ids = list(_unhealthy(policy).values_list("pk", flat=True))
    recent = _recently_remediated(policy.component)
    if not ids and not recent and policy.failed_remediations:
        # Stable for an hour after the last remediation: the count starts again.
        RemediationPolicy.objects.filter(pk=policy.pk).update(failed_remediations=0)
    # The last remediation did not bring it back: count towards the circuit breaker.
    if ids and recent and _count_failed_remediation(policy, "instances are unhealthy again after a replacement"):
        return None
    minutes = policy.replace_unhealthy_after_minutes
    return _remediation(policy, ids, f"instance(s) down for more than {minutes} min")


def _remediation(policy: RemediationPolicy, ids: list[int], why: str):
    budget = policy.budget_per_hour - replacements_in_last_hour(policy.component)
    ids = ids[: max(budget, 0)]
    if not ids:
        return None
    return OperationKind.REPLACE_INSTANCES, {"instance_ids": ids, "batch_size": policy.batch_size}, why


def _decide_new_image(policy: RemediationPolicy):
    component = policy.component
    if not policy.roll_on_new_image or not component.current_image_id:
        return None
    if policy.rolled_image_id == component.current_image_id:
        return None
    RemediationPolicy.objects.filter(pk=policy.pk).update(rolled_image=component.current_image)
    if not _live(component).exclude(image=component.current_image).exists():
        return None
    why = f"image {component.current_image.version} became current"
    return OperationKind.ROLL_COMPONENT, {"batch_size": policy.batch_size}, why


def _decide_max_age(policy: RemediationPolicy):
    if not policy.roll_older_than_max_age:
        return None
    ids = list(_too_old(policy.component).values_list("pk", flat=True))
    if not ids:
        return None
    why = f"instance(s) older than {policy.component.max_instance_age_days} days"
    return OperationKind.REPLACE_INSTANCES, {"instance_ids": ids, "batch_size": policy.batch_size}, why


def _decide_rebuild(policy: RemediationPolicy):
    if policy.rebuild_every_days is None or policy.rebuild_disabled_reason:
        return None
    due = timezone.now() - timedelta(days=policy.rebuild_every_days)
    if policy.last_rebuild_at and policy.last_rebuild_at > due:
        return None
    RemediationPolicy.objects.filter(pk=policy.pk).update(last_rebuild_at=timezone.now())
    return OperationKind.REBUILD_IMAGE, {}, f"scheduled rebuild every {policy.rebuild_every_days} day(s)"


def _recently_remediated(component: Component) -> bool:
    since = timezone.now() - timedelta(hours=1)
    return Operation.objects.filter(
        component=component, policy="replace_unhealthy", state=OperationState.SUCCEEDED, finished_at__gte=since
    ).exists()


def _count_failed_remediation(policy: RemediationPolicy, why: str) -> bool:
    """Count one remediation that did not help; open the breaker at the threshold. True when it opened."""
    with transaction.atomic():
        policy = RemediationPolicy.objects.select_for_update().get(pk=policy.pk)
        was_open = policy.breaker_open_since is not None
        policy.failed_remediations += 1
        if policy.failed_remediations >= policy.breaker_threshold:
            policy.breaker_open_since = timezone.now()
            policy.breaker_reason = (
                f"{policy.failed_remediations} remediations in a row did not bring {policy.component.name} back "
                f"({why}); Estate stopped replacing. Investigate, then close the breaker."
            )
        policy.save(update_fields=["failed_remediations", "breaker_open_since", "breaker_reason", "updated_at"])
        if not was_open and policy.breaker_open_since is not None:
            audit_record(
                action=AuditAction.CHANGE,
                obj=policy,
                changes={"breaker_open_since": [None, policy.breaker_open_since]},
                message=policy.breaker_reason,
            )
            notices.breaker_tripped(policy)
    return policy.breaker_open_since is not None


def _start(policy: RemediationPolicy, name: str, kind: str, params: dict, why: str) -> Operation | None:
    from estate.operations.services import operation_start

    try:
        return operation_start(component=policy.component, kind=kind, params=params, policy=name, reason=why)
    except ApplicationError as exc:
        logger.info("policy %s on %s did not start: %s", name, policy.component, exc.message)
        return None


def evaluate_all() -> list[int]:
    started = []
    for policy in active_policies().distinct():
        operation = evaluate(policy)
        if operation:
            started.append(operation.pk)
    return started


def operation_finished(operation_id: int) -> None:
    """Called by the worker when an operation ends: feeds the breaker and the rebuild policy's failure count."""
    operation = Operation.objects.filter(pk=operation_id).exclude(policy="").first()
    if operation is None:
        return
    policy = RemediationPolicy.objects.filter(component_id=operation.component_id).first()
    if policy is None:
        return
    if operation.policy == "rebuild":
        _rebuild_finished(policy, operation)
    elif operation.policy in REMEDIATIONS and operation.state == OperationState.FAILED:
        _count_failed_remediation(policy, f"operation #{operation.pk} failed: {operation.error}")


def _rebuild_finished(policy: RemediationPolicy, operation: Operation) -> None:
    if operation.state == OperationState.SUCCEEDED:
        RemediationPolicy.objects.filter(pk=policy.pk).update(rebuild_failures=0)
        return
    if operation.state != OperationState.FAILED:
        return
    failures = policy.rebuild_failures + 1
    reason = ""
    if failures >= policy.rebuild_failure_limit:
        reason = f"Disabled itself after {failures} failed rebuilds in a row; last: {operation.error[:300]}"
    RemediationPolicy.objects.filter(pk=policy.pk).update(rebuild_failures=failures, rebuild_disabled_reason=reason)
    if reason and not policy.rebuild_disabled_reason:
        audit_record(
            action=AuditAction.CHANGE, obj=policy, changes={"rebuild_disabled_reason": ["", reason]}, message=reason
        )


@transaction.atomic
def policy_close_breaker(*, policy: RemediationPolicy) -> RemediationPolicy:
    """A person has looked: let the policies act again."""
    guard_write(policy)
    before = {name: getattr(policy, name) for name in ("breaker_open_since", "breaker_reason", "failed_remediations")}
    RemediationPolicy.objects.filter(pk=policy.pk).update(
        breaker_open_since=None, breaker_reason="", failed_remediations=0
    )
    policy.refresh_from_db()
    after = {name: getattr(policy, name) for name in before}
    if changes := diff(before, after):
        audit_record(action=AuditAction.CHANGE, obj=policy, changes=changes, message="Breaker closed.")
    return policy
