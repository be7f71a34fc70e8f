from __future__ import annotations

import pytest

from estate.catalog.demo import load_demo_inventory
from estate.operations import services
from estate.operations.choices import OperationKind, OperationState
from estate.operations.demo import load_demo_operations
from estate.operations.models import Operation, RemediationPolicy
from estate.operations.providers import provider_for
from tests.operations.conftest import run_to_end

pytestmark = pytest.mark.django_db


def test_demo_components_are_simulated_with_policies_on_and_history():
    load_demo_inventory()
    count = load_demo_operations()
    assert load_demo_operations() == count  # safe to run again
    assert RemediationPolicy.objects.filter(replace_tainted=True).count() == count
    assert Operation.objects.filter(state=OperationState.FAILED).count() == 1
    assert Operation.objects.filter(state=OperationState.SUCCEEDED).count() == 2


def test_a_demo_component_rolls_with_the_sandbox(monkeypatch):
    load_demo_inventory()
    load_demo_operations()
    policy = RemediationPolicy.objects.filter(
        component__slug="search-api", component__environment__slug="staging"
    ).get()
    component = policy.component
    assert provider_for(component).name == "sandbox"
    monkeypatch.setattr(services, "dispatch", lambda op_id: None)
    op = services.operation_start(component=component, kind=OperationKind.ROLL_COMPONENT, params={"batch_size": 2})
    op = run_to_end(op)
    assert op.state == OperationState.SUCCEEDED, op.error


def test_demo_shows_a_breaker_open_and_a_rebuild_policy_that_disabled_itself():
    from estate.core.findings import finding_counts

    load_demo_inventory()
    load_demo_operations()
    counts = finding_counts()
    assert counts["remediation-circuit-open"] == 1 and counts["rebuild-policy-disabled"] == 1


def test_the_demo_auth_api_with_a_down_instance_rolls_and_replaces_the_down_one_first(monkeypatch):
    """Issue 12's measured case: production auth-api, one instance down and two healthy. The roll used to
    replace a healthy one first and fail ("would drop healthy capacity under 3")."""
    from estate.inventory.choices import Health
    from estate.operations.models import Replacement

    load_demo_inventory()
    load_demo_operations()
    component = Operation._meta.get_field("component").related_model.objects.get(
        slug="auth-api", environment__slug="production"
    )
    live = component.instances.filter(state__in=("pending", "running"))
    down = [i.pk for i in live if i.health == Health.DOWN]
    assert live.count() == 3 == component.desired_instances
    if not down:  # the demo's telemetry decides; here the newest one is down, as measured in the issue
        down = [live.order_by("-launched_at").first().pk]
        live.filter(pk__in=down).update(health=Health.DOWN)
    monkeypatch.setattr(services, "dispatch", lambda op_id: None)
    op = run_to_end(services.operation_start(component=component, kind=OperationKind.ROLL_COMPONENT))
    assert op.state == OperationState.SUCCEEDED, op.error
    assert Replacement.objects.filter(operation=op).order_by("batch", "pk").first().old_instance_id in down
