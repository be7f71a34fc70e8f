"""The shipped runbook's moves against a real Patroni cluster (tests/patroni.py): restart the replica, wait
for real replication to catch up, switch over, restart the old primary; and a gate held by real lag."""

from __future__ import annotations

import time

import pytest
from django.utils import timezone

from estate.operations import engine
from estate.operations.choices import OperationState
from estate.operations.models import Operation, ProviderConfig
from estate.runbooks import services
from estate.runbooks.models import RunStep
from tests.factories import BastionComponentFactory, ClusterFactory
from tests.patroni import PatroniCluster, patroni_cluster  # noqa: F401  (the module's cluster)
from tests.runbooks.conftest import open_occurrence, template

pytestmark = [pytest.mark.django_db]
CAUGHT_UP = {"type": "gate", "conditions": [{"kind": "lag", "max_seconds": 2}], "hold_seconds": 1}


@pytest.fixture(autouse=True)
def patroni_reachable(settings, monkeypatch, patroni_cluster: PatroniCluster):  # noqa: F811
    settings.OUTBOUND_ALLOWED_NETWORKS = "127.0.0.1/32"
    settings.RUNBOOK_GATE_POLL_SECONDS = 0.5
    settings.PROVIDER_SECRET_SCOPES = "ESTATE_TEST_PATRONI=*"
    monkeypatch.setenv("ESTATE_TEST_PATRONI", patroni_cluster.auth[1])


@pytest.fixture
def nodes(patroni_cluster: PatroniCluster):  # noqa: F811
    """The cluster's members as inventory components, named as Patroni names them; the leader holds the config."""
    pg = ClusterFactory(name="pg-patroni")
    leader = patroni_cluster.leader_name()
    rows = {
        n.name: BastionComponentFactory(
            name=n.name,
            cluster=pg,
            environment=pg.environment,
            engine_version="15.0",
            role="primary" if n.name == leader else "replica",
        )  # fmt: skip
        for n in patroni_cluster.nodes
    }
    address = {"url": patroni_cluster.rest_urls[0], "user": patroni_cluster.auth[0]}
    ProviderConfig.objects.create(component=rows[leader], secret_env="ESTATE_TEST_PATRONI", settings=address)
    return rows[leader], rows


def run_real(operation: Operation, *, limit: float = 120) -> Operation:
    """The worker's loop in the test process, on the real clock (Patroni measures lag on it)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        engine.execute(operation.pk)
        operation.refresh_from_db()
        if operation.claim_token or operation.state not in (OperationState.RUNNING, OperationState.CANCELLING):
            return operation
        time.sleep(max((operation.lease_expires_at - timezone.now()).total_seconds(), 0.05))
    raise AssertionError(f"run still {operation.state} after {limit} s")


def test_a_run_restarts_the_replica_switches_over_and_ends_with_the_roles_swapped(
    patroni_cluster: PatroniCluster,  # noqa: F811
    nodes,
    requester,
):
    leader, rows = nodes
    replica = next(name for name in rows if name != leader.name)
    steps = [
        {**CAUGHT_UP, "name": "caught up"},
        {"type": "action", "name": "restart the replica", "action": "restart", "target": "replicas"},
        {**CAUGHT_UP, "name": "the replica rejoined"},
        {"type": "action", "name": "switch over", "action": "switchover", "target": "primary"},
        {**CAUGHT_UP, "name": "the old primary follows"},
    ]
    occurrence = open_occurrence([leader])
    run = services.run_start(occurrence=occurrence, requested_by=requester,
                             template=template(steps, executor="patroni"))  # fmt: skip
    op = run_real(run.operation)
    assert op.state == OperationState.SUCCEEDED, op.error
    assert patroni_cluster.leader_name() == replica
    run.refresh_from_db()
    version = run.versions_after[replica]
    assert version.startswith("15.") and set(run.versions_after) == set(rows)
    for row in rows.values():
        row.refresh_from_db()
        assert row.engine_version == version  # the inventory now says what the nodes run


def test_a_lag_gate_held_by_real_lag_pauses_and_leaves_the_cluster_healthy(
    patroni_cluster: PatroniCluster,  # noqa: F811
    nodes,
    requester,
):
    leader_row, rows = nodes
    leader = patroni_cluster.leader_name()
    replica = next(name for name in rows if name != leader)
    steps = [{"type": "gate", "name": "caught up", "conditions": [{"kind": "lag", "max_seconds": 1}],
              "timeout_seconds": 4},
             {"type": "action", "name": "switch over", "action": "switchover", "target": "primary"}]  # fmt: skip
    occurrence = open_occurrence([leader_row])
    run = services.run_start(occurrence=occurrence, requested_by=requester,
                             template=template(steps, executor="patroni"))  # fmt: skip
    with patroni_cluster.replay_held(replica):
        time.sleep(2.5)  # the leader's lock waits on the replica: replay stops, the lag grows
        op = run_real(run.operation)
    assert op.state == OperationState.PAUSED
    step = RunStep.objects.get(run=run, position=0)
    assert "did not hold within 4 s" in step.question and "replication lag" in step.question
    assert patroni_cluster.leader_name() == leader  # nothing switched
    assert patroni_cluster.wait_until_healthy() == (leader, replica)
