"""The elasticache executor and the shipped "ElastiCache (Redis)" runbook against moto in server mode.

moto (5.2) holds the replication group and its nodes, but ignores EngineVersion and PrimaryClusterId in
ModifyReplicationGroup, lists no node in DescribeCacheClusters, and has neither TestFailover nor
BatchApplyUpdateAction. The peer (test_rds_run.AwsPeer) answers those from `Group`: the nodes are moto's,
the engine version and the primary are the group's, and a change keeps the group `modifying` for a few
looks, as AWS does, so the executor's waiting is exercised.
"""

from __future__ import annotations

import pytest

from estate.operations.choices import OperationState
from estate.operations.models import ProviderConfig
from estate.runbooks import services
from estate.runbooks.choices import StepState
from estate.runbooks.executors import executor_for
from estate.runbooks.models import RunStep
from estate.runbooks.shipped import ELASTICACHE_REDIS
from tests.factories import BastionComponentFactory
from tests.operations.conftest import run_to_end
from tests.patching.test_deadlines_aws import CACHE_NS
from tests.runbooks.conftest import open_occurrence, template
from tests.runbooks.test_rds_run import aws, aws_server, client, drive, shipped  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db


class Group:
    """What moto lacks about one replication group: its version, its primary, and how long a change takes."""

    def __init__(self, peer, group_id: str, version: str):
        self.peer, self.id, self.version = peer, group_id, version
        described = client(peer, "elasticache").describe_replication_groups(ReplicationGroupId=group_id)
        self.nodes = described["ReplicationGroups"][0]["MemberClusters"]  # moto's: <id>-001 (primary), -002
        self.primary = self.nodes[0]
        self.busy_looks = 0  # looks left while a change is applied
        self.looks_per_change = 2
        self.updates: list[str] = []

    def answer(self, action: str, params: dict):
        value = {k: v[0] for k, v in params.items()}
        if action == "DescribeReplicationGroups":
            return self.reply(action, self.described())
        if action == "DescribeCacheClusters":
            clusters = "".join(f"<CacheCluster><CacheClusterId>{n}</CacheClusterId><EngineVersion>{self.version}"
                               "</EngineVersion></CacheCluster>" for n in self.nodes)  # fmt: skip
            return self.reply(action, f"<CacheClusters>{clusters}</CacheClusters>")
        if action == "ModifyReplicationGroup" and ("EngineVersion" in value or "PrimaryClusterId" in value):
            self.version = value.get("EngineVersion", self.version)
            self.primary = value.get("PrimaryClusterId", self.primary)
            return self.changed(action)
        if action == "TestFailover":
            self.primary = next(n for n in self.nodes if n != self.primary)
            return self.changed(action)
        if action == "BatchApplyUpdateAction":
            self.updates.append(value["ServiceUpdateName"])
            return self.reply(action, "<ProcessedUpdateActions/><UnprocessedUpdateActions/>")
        return None

    def changed(self, action: str):
        self.busy_looks = self.looks_per_change
        return self.reply(action, self.described(look=False))

    def described(self, look: bool = True) -> str:
        status = "modifying" if self.busy_looks else "available"
        if look and self.busy_looks > 0:
            self.busy_looks -= 1
        members = "".join(
            f"<NodeGroupMember><CacheClusterId>{n}</CacheClusterId><CurrentRole>"
            f"{'primary' if n == self.primary else 'replica'}</CurrentRole></NodeGroupMember>"
            for n in self.nodes
        )
        clusters = "".join(f"<ClusterId>{n}</ClusterId>" for n in self.nodes)
        group = (
            f"<ReplicationGroupId>{self.id}</ReplicationGroupId><Status>{status}</Status>"
            f"<MemberClusters>{clusters}</MemberClusters><NodeGroups><NodeGroup><NodeGroupId>0001</NodeGroupId>"
            f"<NodeGroupMembers>{members}</NodeGroupMembers></NodeGroup></NodeGroups>"
        )
        return f"<ReplicationGroups><ReplicationGroup>{group}</ReplicationGroup></ReplicationGroups>"

    @staticmethod
    def reply(action: str, body: str):
        if action == "ModifyReplicationGroup" or action == "TestFailover":
            body = body.replace("<ReplicationGroups>", "").replace("</ReplicationGroups>", "")
        return 200, (
            f'<{action}Response xmlns="{CACHE_NS}"><{action}Result>{body}</{action}Result>'
            f"<ResponseMetadata><RequestId>peer</RequestId></ResponseMetadata></{action}Response>"
        )


@pytest.fixture
def sessions(aws):  # noqa: F811
    client(aws, "elasticache").create_replication_group(
        ReplicationGroupId="sessions", ReplicationGroupDescription="sessions", Engine="redis", EngineVersion="6.2",
        CacheNodeType="cache.t3.micro", ReplicasPerNodeGroup=1, AutomaticFailoverEnabled=True,
    )  # fmt: skip
    group = Group(aws, "sessions", "6.2")
    aws.answers = group.answer
    nodes = [BastionComponentFactory(name=node, role="", engine_version="6.2") for node in group.nodes]
    ProviderConfig.objects.create(component=nodes[0], settings={"region": "eu-west-1", "replication_group": "sessions"})
    return group, nodes


def test_the_elasticache_runbook_upgrades_fails_over_once_and_records_the_new_version(
    aws,  # noqa: F811
    sessions,
    requester,
    approver,
):
    group, nodes = sessions
    run = services.run_start(occurrence=open_occurrence(nodes), requested_by=requester,
                             template=template(shipped(ELASTICACHE_REDIS, "7.1"), executor="elasticache"))  # fmt: skip
    assert drive(run, approver) == []
    assert group.primary == "sessions-002"  # the old replica leads
    assert [c["EngineVersion"] for c in aws.asked_for("ModifyReplicationGroup")] == ["7.1"]
    assert [c["NodeGroupId"] for c in aws.asked_for("TestFailover")] == ["0001"]
    run.refresh_from_db()
    assert run.versions_before == {"sessions-001": "6.2", "sessions-002": "6.2"}
    assert run.versions_after == {"sessions-001": "7.1", "sessions-002": "7.1"}
    for node in nodes:
        node.refresh_from_db()
        assert node.engine_version == "7.1"


def test_each_elasticache_action_asked_twice_is_done_once(aws, sessions, requester):  # noqa: F811
    group, nodes = sessions
    group.looks_per_change = 0
    manual = template([{"type": "manual", "name": "wait"}], executor="elasticache")
    run = services.run_start(occurrence=open_occurrence(nodes), requested_by=requester, template=manual)
    executor = executor_for("elasticache", operation=run.operation)
    for _ in range(2):
        executor.act("upgrade_engine", "sessions", {"version": "7.1"}, "k-upgrade", timeout=60)
        executor.act("apply_service_update", "sessions", {"service_update": "elasticache-patch-1"}, "k-su", timeout=60)
        executor.act("failover", "sessions-001", {}, "k-failover", timeout=60)
    assert len(aws.asked_for("ModifyReplicationGroup")) == 1
    assert group.updates == ["elasticache-patch-1"]
    assert len(aws.asked_for("TestFailover")) == 1
    assert executor.act("failover", "sessions-001", {}, "k-again", timeout=60)["changed"] is False  # not primary


def test_a_group_that_stays_modifying_pauses_the_step_with_the_reason_and_a_retry_waits_afresh(
    aws,  # noqa: F811
    sessions,
    requester,
    approver,
):
    group, nodes = sessions
    group.looks_per_change = 10_000
    steps = [{"type": "action", "name": "upgrade", "action": "upgrade_engine", "params": {"version": "7.1"},
              "timeout_seconds": 5}]  # fmt: skip
    run = services.run_start(occurrence=open_occurrence(nodes), requested_by=requester,
                             template=template(steps, executor="elasticache"))  # fmt: skip
    op = run_to_end(run.operation)
    assert op.state == OperationState.PAUSED
    step = RunStep.objects.get(run=run, position=0)
    assert step.state == StepState.ASKING
    assert "replication group sessions is still 'modifying'" in step.question
    assert len(aws.asked_for("ModifyReplicationGroup")) == 1  # asked once, looked at many times

    group.busy_looks = 3  # AWS finishes a while after the person's retry: the step waits again, it asks nothing
    services.run_decide(run=run, position=0, decision="retry", user=approver)
    assert run_to_end(run.operation).state == OperationState.SUCCEEDED
    assert len(aws.asked_for("ModifyReplicationGroup")) == 1
