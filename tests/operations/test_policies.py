from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from estate.core.findings import finding_counts
from estate.inventory.choices import Health
from estate.inventory.models import Instance
from estate.operations import engine, policies
from estate.operations.choices import OperationKind, OperationState
from estate.operations.models import Operation, RemediationPolicy
from tests.factories import BastionComponentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def no_dispatch(monkeypatch):
    from estate.operations import services

    monkeypatch.setattr(services, "dispatch", lambda op_id: None)


def policy_for(component, **switches) -> RemediationPolicy:
    return RemediationPolicy.objects.create(component=component, **switches)


def run_all(started: list[int]) -> None:
    for op_id in started:
        engine.execute(op_id)


def test_policies_are_off_by_default(component, no_dispatch):
    policy_for(component)
    component.instances.update(tainted=True, taint_reason="ssh")
    assert policies.evaluate_all() == []


def test_tainted_instances_are_replaced(component, django_capture_on_commit_callbacks):
    policy_for(component, replace_tainted=True, budget_per_hour=10)
    tainted = component.instances.first()
    Instance.objects.filter(pk=tainted.pk).update(tainted=True, taint_reason="someone ran apt upgrade")
    started = policies.evaluate_all()
    op = Operation.objects.get(pk=started[0])
    assert op.kind == OperationKind.REPLACE_INSTANCES and op.params["instance_ids"] == [tainted.pk]
    assert op.policy == "replace_tainted" and op.requested_by is None
    run_all(started)
    op.refresh_from_db()
    assert op.state == OperationState.SUCCEEDED


def test_budget_caps_replacements_per_hour(component, no_dispatch):
    policy_for(component, replace_tainted=True, budget_per_hour=1)
    component.instances.update(tainted=True, taint_reason="ssh")
    [op_id] = policies.evaluate_all()
    assert len(Operation.objects.get(pk=op_id).params["instance_ids"]) == 1
    Operation.objects.filter(pk=op_id).update(state=OperationState.SUCCEEDED)
    from estate.operations.models import Replacement

    Replacement.objects.create(operation_id=op_id, old_instance=component.instances.first())
    assert policies.evaluate_all() == []  # budget spent for this hour


def test_unhealthy_for_longer_than_n_minutes_is_replaced(component, no_dispatch):
    policy_for(component, replace_unhealthy_after_minutes=10)
    sick = component.instances.first()
    Instance.objects.filter(pk=sick.pk).update(health=Health.DOWN, last_seen_at=timezone.now() - timedelta(minutes=5))
    assert policies.evaluate_all() == []
    Instance.objects.filter(pk=sick.pk).update(last_seen_at=timezone.now() - timedelta(minutes=11))
    [op_id] = policies.evaluate_all()
    assert Operation.objects.get(pk=op_id).params["instance_ids"] == [sick.pk]


def test_circuit_breaker_opens_when_replacements_do_not_help(component, no_dispatch):
    policy = policy_for(component, replace_unhealthy_after_minutes=1, breaker_threshold=2, budget_per_hour=100)
    long_ago = timezone.now() - timedelta(minutes=5)
    for _ in range(3):
        Instance.objects.filter(component=component).update(health=Health.DOWN, last_seen_at=long_ago)
        started = policies.evaluate_all()
        Operation.objects.filter(pk__in=started).update(state=OperationState.SUCCEEDED, finished_at=timezone.now())
    policy.refresh_from_db()
    assert policy.breaker_open_since is not None and "did not bring" in policy.breaker_reason
    assert policies.evaluate_all() == []
    assert finding_counts(kind="remediation-circuit-open")["remediation-circuit-open"] == 1
    policies.policy_close_breaker(policy=policy)
    assert finding_counts(kind="remediation-circuit-open")["remediation-circuit-open"] == 0


def test_failed_remediations_open_the_breaker(component, settings):
    settings.OPERATIONS_SANDBOX_FAILURE_RATE = 1.0
    policy = policy_for(component, replace_tainted=True, breaker_threshold=2, budget_per_hour=100)
    for _ in range(2):
        Instance.objects.filter(component=component, state="running").update(tainted=True, taint_reason="x")
        run_all(policies.evaluate_all())
    policy.refresh_from_db()
    assert policy.breaker_open_since is not None


def test_no_policy_acts_while_a_bastion_dependency_is_in_a_patch_window(component, no_dispatch):
    policy_for(component, replace_tainted=True)
    database = BastionComponentFactory(health=Health.MAINTENANCE)
    component.depends_on.add(database)
    component.instances.update(tainted=True, taint_reason="ssh")
    assert policies.evaluate_all() == []
    database.health = Health.HEALTHY
    database.save()
    assert len(policies.evaluate_all()) == 1


def test_old_instances_are_rolled(component, no_dispatch):
    policy_for(component, roll_older_than_max_age=True)
    old = component.instances.first()
    Instance.objects.filter(pk=old.pk).update(launched_at=timezone.now() - timedelta(days=31))
    [op_id] = policies.evaluate_all()
    assert Operation.objects.get(pk=op_id).params["instance_ids"] == [old.pk]


def test_a_new_current_image_rolls_the_component_once(component, no_dispatch):
    policy_for(component, roll_on_new_image=True)
    [op_id] = policies.evaluate_all()
    assert Operation.objects.get(pk=op_id).kind == OperationKind.ROLL_COMPONENT
    Operation.objects.filter(pk=op_id).update(state=OperationState.SUCCEEDED)
    assert policies.evaluate_all() == []


def test_a_failing_rebuild_policy_disables_itself_and_says_so(component, settings):
    settings.OPERATIONS_SANDBOX_FAILURE_RATE = 1.0
    policy = policy_for(component, rebuild_every_days=1, rebuild_failure_limit=2)
    for _ in range(2):
        RemediationPolicy.objects.filter(pk=policy.pk).update(last_rebuild_at=None)
        run_all(policies.evaluate_all())
    policy.refresh_from_db()
    assert policy.rebuild_failures == 2 and "Disabled itself after 2 failed rebuilds" in policy.rebuild_disabled_reason
    RemediationPolicy.objects.filter(pk=policy.pk).update(last_rebuild_at=None)
    assert policies.evaluate_all() == []
    assert finding_counts(kind="rebuild-policy-disabled")["rebuild-policy-disabled"] == 1


def test_a_successful_rebuild_resets_the_failure_count(component):
    policy = policy_for(component, rebuild_every_days=1)
    RemediationPolicy.objects.filter(pk=policy.pk).update(rebuild_failures=2)
    run_all(policies.evaluate_all())
    policy.refresh_from_db()
    assert policy.rebuild_failures == 0 and policy.last_rebuild_at is not None


def test_policies_skip_components_with_an_active_operation(component, no_dispatch):
    policy_for(component, replace_tainted=True)
    Operation.objects.create(component=component, kind=OperationKind.REBUILD_IMAGE)
    component.instances.update(tainted=True, taint_reason="ssh")
    assert policies.evaluate_all() == []


def test_bastion_policies_never_act(no_dispatch):
    database = BastionComponentFactory()
    RemediationPolicy.objects.create(component=database, replace_tainted=True)
    assert policies.evaluate_all() == []
