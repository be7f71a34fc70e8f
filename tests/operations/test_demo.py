from __future__ import annotations

import pytest

from estate.inventory.demo import load_demo_estate
from estate.operations import services
from estate.operations.choices import OperationKind, OperationState
from estate.operations.demo import load_demo_operations
from estate.operations.models import Operation, RemediationPolicy
from estate.operations.providers import provider_for
from tests.operations.conftest import run_to_end

pytestmark = pytest.mark.django_db


def test_demo_components_are_simulated_with_policies_on_and_history():
    load_demo_estate()
    count = load_demo_operations()
    assert load_demo_operations() == count  # safe to run again
    assert RemediationPolicy.objects.filter(replace_tainted=True).count() == count
    assert Operation.objects.filter(state=OperationState.FAILED).count() == 1
    assert Operation.objects.filter(state=OperationState.SUCCEEDED).count() == 2


def test_a_demo_component_rolls_with_the_sandbox(monkeypatch):
    load_demo_estate()
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

    load_demo_estate()
    load_demo_operations()
    counts = finding_counts()
    assert counts["remediation-circuit-open"] == 1 and counts["rebuild-policy-disabled"] == 1
