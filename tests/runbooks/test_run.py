"""Runbook runs on the engine, with the command executor driving a pretend node (tests/runbooks/node.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from estate.access import roles
from estate.access.models import AccessScope
from estate.core.errors import ApplicationError
from estate.core.findings import finding_list
from estate.discovery.models import DiscoveredObject, DiscoverySource
from estate.notifications.models import NotificationRoute
from estate.operations.choices import OperationState
from estate.outbox.models import OutboxMessage
from estate.patching.choices import OccurrenceStatus
from estate.runbooks import services
from estate.runbooks.choices import StepState
from estate.runbooks.models import RunbookTemplate, RunStep
from estate.telemetry.models import Sample
from tests.conftest import user_with_role
from tests.factories import ImmutableComponentFactory, TeamFactory
from tests.operations.conftest import run_to_end
from tests.runbooks.conftest import open_occurrence, template

pytestmark = pytest.mark.django_db

PATRONI_LIKE = [
    {"type": "gate", "name": "cluster healthy", "conditions": [{"kind": "health"}]},
    {"type": "action", "name": "patch the replicas", "action": "patch", "target": "replicas"},
    {"type": "gate", "name": "replicas caught up", "conditions": [{"kind": "lag", "max_seconds": 1}],
     "hold_seconds": 2, "timeout_seconds": 30},
    {"type": "approval", "name": "approve the switchover"},
    {"type": "action", "name": "switch over", "action": "switchover", "target": "primary"},
    {"type": "action", "name": "patch the old primary", "action": "patch", "target": "replicas"},
    {"type": "notify", "name": "tell the owners", "message": "pg-main patched"},
]  # fmt: skip


def states(run) -> list[str]:
    return list(RunStep.objects.filter(run=run).order_by("position").values_list("state", flat=True))


def asking(run) -> RunStep:
    return RunStep.objects.get(run=run, state=StepState.ASKING)


def test_a_run_patches_replicas_switches_over_and_records_the_new_versions(cluster, members, requester, approver):
    occurrence = open_occurrence(members[:1])
    template(PATRONI_LIKE, window=occurrence.window)
    run = services.run_start(occurrence=occurrence, requested_by=requester)
    occurrence.refresh_from_db()
    assert occurrence.status == OccurrenceStatus.IN_PROGRESS

    op = run_to_end(run.operation)
    assert op.state == OperationState.PAUSED
    assert asking(run).name == "approve the switchover"
    assert cluster.performed() == [f"patch db-2 run{op.pk}-s1-db-2"]  # nothing switched before the approval

    services.run_decide(run=run, position=3, decision="approve", user=approver)
    op = run_to_end(run.operation)
    assert op.state == OperationState.SUCCEEDED, op.error
    assert states(run) == [StepState.DONE] * len(PATRONI_LIKE)
    assert [line.split()[:2] for line in cluster.performed()] == [
        ["patch", "db-2"], ["switchover", "db-1"], ["patch", "db-1"]
    ]  # fmt: skip
    assert {m["name"]: m["role"] for m in cluster.read()["members"]} == {"db-1": "replica", "db-2": "primary"}
    run.refresh_from_db()
    assert run.versions_before == {"db-1": "16.3", "db-2": "16.3"}
    assert run.versions_after == {"db-1": "16.4", "db-2": "16.4"}
    for component in members:
        component.refresh_from_db()
        assert component.engine_version == "16.4"
    occurrence.refresh_from_db()
    assert occurrence.status == OccurrenceStatus.COMPLETED
    assert (occurrence.engine_version_before, occurrence.engine_version_after) == ("16.3", "16.4")
    assert RunStep.objects.get(run=run, position=3).decided_by == approver


def test_the_requester_cannot_approve_their_own_run(cluster, members, requester):
    occurrence = open_occurrence(members[:1])
    run = services.run_start(
        occurrence=occurrence, requested_by=requester, template=template([{"type": "approval", "name": "go?"}])
    )
    run_to_end(run.operation)
    with pytest.raises(ApplicationError) as refused:
        services.run_decide(run=run, position=0, decision="approve", user=requester)
    assert refused.value.status == 403
    assert "requester" in refused.value.message or "another operator must approve" in refused.value.message
    assert asking(run).position == 0


def test_a_viewer_cannot_approve(cluster, members, requester, viewer):
    occurrence = open_occurrence(members[:1])
    run = services.run_start(
        occurrence=occurrence, requested_by=requester, template=template([{"type": "approval", "name": "go?"}])
    )
    run_to_end(run.operation)
    with pytest.raises(ApplicationError, match="operator role"):
        services.run_decide(run=run, position=0, decision="approve", user=viewer)


def test_an_operator_of_another_team_cannot_approve(cluster, members, requester):
    elsewhere = user_with_role("elsewhere", roles.OPERATOR)
    AccessScope.objects.create(user=elsewhere).teams.add(TeamFactory())
    occurrence = open_occurrence(members[:1])
    run = services.run_start(
        occurrence=occurrence, requested_by=requester, template=template([{"type": "approval", "name": "go?"}])
    )
    run_to_end(run.operation)
    with pytest.raises(ApplicationError, match="limited to some teams") as refused:
        services.run_decide(run=run, position=0, decision="approve", user=elsewhere)
    assert refused.value.status == 403


def test_an_approval_cannot_be_skipped(cluster, members, requester, approver):
    occurrence = open_occurrence(members[:1])
    run = services.run_start(
        occurrence=occurrence, requested_by=requester, template=template([{"type": "approval", "name": "go?"}])
    )
    run_to_end(run.operation)
    with pytest.raises(ApplicationError, match="never skipped"):
        services.run_decide(run=run, position=0, decision="skip", user=approver)


@pytest.mark.parametrize("starts_in", [timedelta(hours=2), timedelta(hours=-3)], ids=["before", "after"])
def test_a_run_outside_its_window_is_refused(cluster, members, requester, starts_in):
    occurrence = open_occurrence(members[:1], starts_in=starts_in)
    template([{"type": "manual", "name": "look"}], window=occurrence.window)
    with pytest.raises(ApplicationError, match="only inside its window") as refused:
        services.run_start(occurrence=occurrence, requested_by=requester)
    assert refused.value.status == 409
    assert not RunStep.objects.exists()


def test_a_gate_that_does_not_hold_pauses_and_asks_then_skip_goes_on(cluster, members, requester, approver, settings):
    settings.RUNBOOK_GATE_POLL_SECONDS = 5  # fewer looks (the clock is moved, not waited for)
    primary = {"name": "db-1", "role": "primary", "engine_version": "16.3", "lag_seconds": 0}
    cluster.write(members=[primary, {**primary, "name": "db-2", "role": "replica", "lag_seconds": 30}])
    occurrence = open_occurrence(members[:1])
    steps = [
        {"type": "gate", "name": "caught up", "conditions": [{"kind": "lag", "max_seconds": 1}], "timeout_seconds": 20},
        {"type": "action", "name": "patch", "action": "patch", "target": "replicas"},
    ]
    run = services.run_start(occurrence=occurrence, requested_by=requester, template=template(steps))
    op = run_to_end(run.operation)
    assert op.state == OperationState.PAUSED
    step = asking(run)
    assert step.name == "caught up"
    assert "did not hold within 20 s" in step.question and "replication lag (s) = 30" in step.question
    assert step.detail["checks"][0]["value"] == 30
    assert cluster.performed() == []  # nothing after the gate was started

    services.run_decide(run=run, position=0, decision="retry", user=approver)
    assert run_to_end(run.operation).state == OperationState.PAUSED  # still lagging: asks again

    services.run_decide(run=run, position=0, decision="skip", user=approver)
    assert run_to_end(run.operation).state == OperationState.SUCCEEDED
    assert states(run) == [StepState.SKIPPED, StepState.DONE]


def test_an_executor_that_times_out_pauses_the_run_with_the_reason(cluster, members, requester):
    cluster.write(sleep={"patch": 5})
    occurrence = open_occurrence(members[:1])
    steps = [{"type": "action", "name": "slow patch", "action": "patch", "target": "replicas", "timeout_seconds": 1}]
    run = services.run_start(occurrence=occurrence, requested_by=requester, template=template(steps))
    op = run_to_end(run.operation)
    assert op.state == OperationState.PAUSED
    assert "no answer within 1 s" in asking(run).question
    assert cluster.performed() == []


def test_an_executor_that_fails_pauses_the_run_with_its_message(cluster, members, requester, approver):
    occurrence = open_occurrence(members[:1])
    steps = [{"type": "action", "name": "bad", "action": "fail"}]
    run = services.run_start(occurrence=occurrence, requested_by=requester, template=template(steps))
    assert run_to_end(run.operation).state == OperationState.PAUSED
    assert "exit status 3: the node refused" in asking(run).question
    services.run_decide(run=run, position=0, decision="abort", user=approver)
    run.operation.refresh_from_db()
    assert run.operation.state == OperationState.CANCELLED


def test_a_step_that_would_start_after_the_window_pauses_and_asks(cluster, members, requester, approver):
    occurrence = open_occurrence(members[:1], duration=timedelta(minutes=10), starts_in=timedelta(minutes=-5))
    steps = [{"type": "manual", "name": "drain"}, {"type": "action", "name": "patch", "action": "patch",
                                                   "target": "replicas"}]  # fmt: skip
    run = services.run_start(occurrence=occurrence, requested_by=requester, template=template(steps))
    run_to_end(run.operation)
    with time_machine.travel(timezone.now() + timedelta(minutes=6), tick=True):
        services.run_decide(run=run, position=0, decision="tick", user=approver)
        assert run_to_end(run.operation).state == OperationState.PAUSED
    assert "the window ended" in asking(run).question
    assert cluster.performed() == []


def test_a_checklist_window_runs_its_lines_as_manual_steps(members, requester, approver):
    occurrence = open_occurrence(members[:1], runbook=["Check the backups", "Patch by hand"])
    run = services.run_start(occurrence=occurrence, requested_by=requester)
    assert [s.type for s in RunStep.objects.filter(run=run)] == ["manual", "manual"]
    for position in (0, 1):
        assert run_to_end(run.operation).state == OperationState.PAUSED
        services.run_decide(run=run, position=position, decision="tick", user=approver)
    assert run_to_end(run.operation).state == OperationState.SUCCEEDED


def test_cluster_members_on_different_versions_are_a_finding(members):
    assert finding_list(kind="cluster-version-skew")[0] == 0
    members[1].engine_version = "16.4"
    members[1].save()
    total, findings = finding_list(kind="cluster-version-skew")
    assert total == 2
    assert {f.obj.name for f in findings} == {"db-1", "db-2"}
    assert "db-2 runs 16.4; other members of cluster pg-main run another version." in [f.message for f in findings]


def test_the_shipped_patroni_runbook_is_valid_and_orders_replicas_before_the_switchover():
    shipped = RunbookTemplate.objects.get(name="PostgreSQL under Patroni")
    shipped.full_clean()
    actions = [(s["action"], s["target"]) for s in shipped.steps if s["type"] == "action"]
    assert actions == [("restart", "replicas"), ("switchover", "primary"), ("restart", "replicas")]


def test_a_notify_step_tells_the_owning_team_through_the_outbox(members, requester):
    NotificationRoute.objects.create(name="dba", team=members[0].team, channel="email", emails="dba@example.com",
                                     events=["runbook_notice"])  # fmt: skip
    occurrence = open_occurrence(members[:1], title="pg-main patch")
    steps = [{"type": "notify", "name": "heads up", "message": "Switching over in 5 minutes."}]
    run = services.run_start(
        occurrence=occurrence, requested_by=requester, template=template(steps, executor="webhook")
    )
    assert run_to_end(run.operation).state == OperationState.SUCCEEDED
    message = OutboxMessage.objects.get(kind="notify.email")
    assert message.payload["subject"] == "pg-main patch: heads up"
    assert "Switching over in 5 minutes." in message.payload["text"]
    assert message.payload["to"] == ["dba@example.com"]


def test_a_gate_on_promql_or_the_dependents_error_rate_pauses_naming_what_it_measured(
    members, requester, approver, settings
):
    settings.PROMETHEUS_URL = ""
    settings.RUNBOOK_GATE_POLL_SECONDS = 5
    service = ImmutableComponentFactory(name="checkout-api")
    service.depends_on.add(members[0])
    now = timezone.now()
    Sample.objects.bulk_create(
        Sample(component=service, name=settings.OPERATIONS_ERROR_RATE_METRIC, value=0.3, ts=now - timedelta(seconds=s))
        for s in (10, 40, 70)
    )
    conditions = [{"kind": "dependents_error_rate", "max": 0.05}, {"kind": "promql", "query": "up", "min": 1}]
    steps = [{"type": "gate", "name": "clients fine", "conditions": conditions, "timeout_seconds": 10}]
    occurrence = open_occurrence(members[:1])
    run = services.run_start(
        occurrence=occurrence, requested_by=requester, template=template(steps, executor="webhook")
    )
    assert run_to_end(run.operation).state == OperationState.PAUSED
    question = asking(run).question
    assert "dependents' error rate = 0.3, must be ≤ 0.05" in question
    assert "PROMETHEUS_URL is not configured" in question


def test_an_executor_that_cannot_list_the_members_pauses_on_the_step_and_a_retry_goes_on(
    cluster, members, requester, approver
):
    occurrence = open_occurrence(members[:1])
    steps = [{"type": "action", "name": "patch", "action": "patch", "target": "replicas"}]
    run = services.run_start(occurrence=occurrence, requested_by=requester, template=template(steps))
    cluster.path.joinpath("cluster.json").rename(cluster.path / "gone.json")  # the node cannot answer now
    assert run_to_end(run.operation).state == OperationState.PAUSED
    assert "could not list the cluster's members" in asking(run).question
    cluster.path.joinpath("gone.json").rename(cluster.path / "cluster.json")
    services.run_decide(run=run, position=0, decision="retry", user=approver)
    assert run_to_end(run.operation).state == OperationState.SUCCEEDED
    assert cluster.performed() == [f"patch db-2 run{run.operation_id}-s0-db-2"]


def test_a_member_a_source_discovered_keeps_its_version_for_the_source_to_record(cluster, members, requester):
    source = DiscoverySource.objects.create(name="aws-prod", kind="aws", regions=["eu-west-1"])
    DiscoveredObject.objects.create(
        source=source, key="arn:db-2", kind="rds", component=members[1], last_seen_at=timezone.now()
    )
    steps = [{"type": "action", "name": "patch the replicas", "action": "patch", "target": "replicas"}]
    occurrence = open_occurrence(members[:1])
    template(steps, window=occurrence.window)
    op = run_to_end(services.run_start(occurrence=occurrence, requested_by=requester).operation)
    assert op.state == OperationState.SUCCEEDED, op.error
    versions = {c.name: c.engine_version for c in type(members[0]).objects.filter(pk__in=[m.pk for m in members])}
    assert versions == {"db-1": "16.3", "db-2": "16.3"}  # db-1 was not patched; db-2 waits for its source
    assert op.steps.filter(message__contains="engine version 16.4 is left to discovery:aws-prod").exists()


def test_run_parameters_fill_what_action_steps_leave_empty_and_a_steps_own_value_wins(cluster, members, requester):
    steps = [
        {"type": "action", "name": "to reach", "action": "patch", "target": "replicas", "params": {"version": ""}},
        {"type": "action", "name": "pinned", "action": "patch", "target": "replicas", "params": {"version": "16.2"}},
        {"type": "manual", "name": "look"},
    ]
    occurrence = open_occurrence(members[:1])
    template(steps, window=occurrence.window)
    run = services.run_start(occurrence=occurrence, requested_by=requester, params={"version": "16.5"})
    specs = [s.spec.get("params") for s in RunStep.objects.filter(run=run).order_by("position")]
    assert specs == [{"version": "16.5"}, {"version": "16.2"}, None]


@pytest.mark.parametrize(
    "params",
    [{"Version": "16.5"}, {"version": ""}, {"version": "x" * 101}, {f"k{n}": "x" for n in range(11)}, ["version"]],
)
def test_bad_run_parameters_are_refused_naming_params_and_nothing_starts(cluster, members, requester, params):
    occurrence = open_occurrence(members[:1])
    template([{"type": "manual", "name": "look"}], window=occurrence.window)
    with pytest.raises(ApplicationError) as refused:
        services.run_start(occurrence=occurrence, requested_by=requester, params=params)
    assert list(refused.value.errors) == ["params"]
    assert not RunStep.objects.exists()
