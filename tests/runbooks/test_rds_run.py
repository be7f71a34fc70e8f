"""The rds executor and the shipped "AWS RDS" runbook against moto in server mode.

moto (5.2) does RDS's instances, Aurora clusters, ModifyDBInstance/ModifyDBCluster, reboots and
FailoverDBCluster; it lacks DescribePendingMaintenanceActions and ApplyPendingMaintenanceAction. So boto3
talks to the small peer of tests/patching/test_deadlines_aws.py, which forwards everything to moto except
those: here it also applies a pending action (it is then no longer pending) and logs every call, so a test
can count what AWS was asked.
"""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer

import boto3
import pytest
import requests

from estate.operations.choices import OperationState
from estate.operations.models import ProviderConfig
from estate.runbooks import services
from estate.runbooks.choices import StepState
from estate.runbooks.executors import ExecutorError, executor_for
from estate.runbooks.models import RunbookTemplate, RunStep
from estate.runbooks.shipped import AWS_RDS
from tests.conftest import token_client
from tests.factories import BastionComponentFactory, ClusterFactory
from tests.operations.conftest import run_to_end
from tests.patching.test_deadlines_aws import RDS_NS, VendorPeer, _handler, _pending_page
from tests.runbooks.conftest import open_occurrence, template

pytestmark = pytest.mark.django_db
REGION = "eu-west-1"


class AwsPeer(VendorPeer):
    """VendorPeer, plus ApplyPendingMaintenanceAction, a DescribePendingMaintenanceActions that honours its
    ResourceIdentifier filter, and a log of every call (`asked`). Tests set `rewrite` to change moto's answers."""

    def __init__(self, moto_url: str):
        super().__init__(moto_url)
        self.asked: list[tuple[str, dict]] = []
        self.answers = None  # a test's own answers: (action, params) -> (status, xml) or None

    def answer(self, action: str, params: dict):
        self.asked.append((action, {k: v[0] for k, v in params.items()}))
        if self.answers is not None and (answer := self.answers(action, params)) is not None:
            return answer
        if action == "DescribePendingMaintenanceActions" and "ResourceIdentifier" in params:
            arn = params["ResourceIdentifier"][0]
            return 200, _pending_page([(a, acts) for a, acts in self.rds if a == arn], 0)
        if action == "ApplyPendingMaintenanceAction":
            arn, applied = params["ResourceIdentifier"][0], params["ApplyAction"][0]
            self.rds = [(a, [x for x in acts if not (a == arn and x["Action"] == applied)]) for a, acts in self.rds]
            return 200, (
                f'<ApplyPendingMaintenanceActionResponse xmlns="{RDS_NS}"><ApplyPendingMaintenanceActionResult>'
                f"<ResourcePendingMaintenanceActions><ResourceIdentifier>{arn}</ResourceIdentifier>"
                "</ResourcePendingMaintenanceActions></ApplyPendingMaintenanceActionResult>"
                "<ResponseMetadata><RequestId>peer</RequestId></ResponseMetadata></ApplyPendingMaintenanceActionResponse>"
            )  # fmt: skip
        return super().answer(action, params)

    def asked_for(self, action: str) -> list[dict]:
        return [params for name, params in self.asked if name == action]


@pytest.fixture(scope="module")
def aws_server():
    from moto.server import ThreadedMotoServer

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    peer = AwsPeer(f"http://{host}:{port}")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(peer))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    peer.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield peer
    server.shutdown()
    moto.stop()


@pytest.fixture
def aws(aws_server, monkeypatch, settings) -> AwsPeer:
    """A clean account; the executors' boto3 clients reach it through boto3's own chain (no stored secret)."""
    requests.post(f"{aws_server.moto_url}/moto-api/reset", timeout=10)
    aws_server.rds, aws_server.cache, aws_server.asked, aws_server.answers = [], [], [], None
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_server.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    settings.RUNBOOK_GATE_POLL_SECONDS = 0.5
    return aws_server


def client(peer: AwsPeer, service: str):
    return boto3.client(service, region_name=REGION, endpoint_url=peer.moto_url,
                        aws_access_key_id="t", aws_secret_access_key="t")  # fmt: skip


def shipped(steps_template: dict, version: str) -> list[dict]:
    """The shipped steps with the version to reach, and gates that need not hold for seconds in a test."""
    steps = []
    for step in steps_template["steps"]:
        step = {**step}
        if step.get("action") == "upgrade_engine":
            step["params"] = {"version": version}
        if step["type"] == "gate":
            step["hold_seconds"] = 0
        steps.append(step)
    return steps


def drive(run, approver) -> list[str]:
    """Run to the end, approving what asks for approval and skipping a step that finds no member to act on."""
    skipped = []
    for _ in range(20):
        op = run_to_end(run.operation)
        if op.state != OperationState.PAUSED:
            assert op.state == OperationState.SUCCEEDED, (op.state, op.error)
            return skipped
        step = RunStep.objects.get(run=run, state=StepState.ASKING)
        if step.type == "approval":
            services.run_decide(run=run, position=step.position, decision="approve", user=approver)
        else:
            assert "reports no replicas" in step.question, step.question
            skipped.append(step.name)
            services.run_decide(run=run, position=step.position, decision="skip", user=approver)
    raise AssertionError("the run did not end")


@pytest.fixture
def aurora(aws):
    rds = client(aws, "rds")
    rds.create_db_cluster(DBClusterIdentifier="orders", Engine="aurora-postgresql", EngineVersion="15.4",
                          MasterUsername="estate", MasterUserPassword="password1")  # fmt: skip
    for name in ("orders-1", "orders-2"):  # the first is the writer
        rds.create_db_instance(DBInstanceIdentifier=name, DBClusterIdentifier="orders", Engine="aurora-postgresql",
                               DBInstanceClass="db.r6g.large")  # fmt: skip
    cluster = ClusterFactory(name="orders")
    common = {"cluster": cluster, "environment": cluster.environment, "engine_version": "15.4"}
    writer = BastionComponentFactory(name="orders-1", role="primary", **common)
    reader = BastionComponentFactory(name="orders-2", role="replica", team=writer.team, system=writer.system, **common)
    ProviderConfig.objects.create(component=writer, settings={"region": REGION, "db_cluster": "orders"})
    return writer, reader


@pytest.fixture
def multi_az(aws):
    rds = client(aws, "rds")
    created = rds.create_db_instance(DBInstanceIdentifier="billing", Engine="postgres", EngineVersion="15.4",
                                     DBInstanceClass="db.t3.micro", MultiAZ=True, AllocatedStorage=20,
                                     MasterUsername="estate", MasterUserPassword="password1")  # fmt: skip
    arn = created["DBInstance"]["DBInstanceArn"]
    component = BastionComponentFactory(name="billing", role="standalone", engine_version="15.4")
    ProviderConfig.objects.create(component=component, settings={"region": REGION, "db_instance": "billing"})
    return component, arn


def test_the_aws_rds_runbook_on_aurora_fails_over_once_and_records_the_new_version(aws, aurora, requester, approver):
    writer, reader = aurora
    run = services.run_start(occurrence=open_occurrence([writer]), requested_by=requester,
                             template=template(shipped(AWS_RDS, "16.1"), executor="rds"))  # fmt: skip
    assert drive(run, approver) == []
    members = client(aws, "rds").describe_db_clusters(DBClusterIdentifier="orders")["DBClusters"][0]["DBClusterMembers"]
    assert {m["DBInstanceIdentifier"]: m["IsClusterWriter"] for m in members} == {"orders-1": False, "orders-2": True}
    assert [c["TargetDBInstanceIdentifier"] for c in aws.asked_for("FailoverDBCluster")] == ["orders-2"]
    assert len(aws.asked_for("ModifyDBCluster")) == 1  # the second upgrade step found every member at 16.1
    run.refresh_from_db()
    assert run.versions_before == {"orders-1": "15.4", "orders-2": "15.4"}
    assert run.versions_after == {"orders-1": "16.1", "orders-2": "16.1"}
    for row in (writer, reader):
        row.refresh_from_db()
        assert row.engine_version == "16.1"  # the inventory says what AWS runs


def test_the_aws_rds_runbook_on_a_multi_az_instance_applies_maintenance_and_fails_over_to_its_standby(
    aws, multi_az, requester, approver
):
    component, arn = multi_az
    aws.rds = [(arn, [{"Action": "system-update", "Description": "OS patch"}])]
    run = services.run_start(occurrence=open_occurrence([component]), requested_by=requester,
                             template=template(shipped(AWS_RDS, "16.1"), executor="rds"))  # fmt: skip
    skipped = drive(run, approver)
    assert skipped == ["apply pending maintenance on the readers", "upgrade the readers"]  # it has no readers
    assert [(c["ApplyAction"], c["OptInType"]) for c in aws.asked_for("ApplyPendingMaintenanceAction")] == [
        ("system-update", "immediate")
    ]
    assert [c["ForceFailover"] for c in aws.asked_for("RebootDBInstance")] == ["true"]
    assert [c["EngineVersion"] for c in aws.asked_for("ModifyDBInstance")] == ["16.1"]
    component.refresh_from_db()
    assert component.engine_version == "16.1"


def test_an_action_asked_twice_with_the_same_key_is_done_once(aws, aurora, requester):
    writer, _ = aurora
    run = services.run_start(occurrence=open_occurrence([writer]), requested_by=requester,
                             template=template([{"type": "manual", "name": "wait"}], executor="rds"))  # fmt: skip
    executor = executor_for("rds", operation=run.operation)
    for _ in range(2):  # a worker that died after AWS answered asks again with the same key
        executor.act("failover", "orders-1", {}, "run1-s6-orders-1", timeout=60)
        executor.act("upgrade_engine", "orders-2", {"version": "16.1"}, "run1-s7-orders-2", timeout=60)
        executor.act("reboot", "orders-2", {}, "run1-s8-orders-2", timeout=60)
    assert len(aws.asked_for("FailoverDBCluster")) == 1
    assert len(aws.asked_for("ModifyDBCluster")) == 1
    assert len(aws.asked_for("RebootDBInstance")) == 1
    # another key, but nothing left to do: the node is no longer the writer, the version is reached
    assert executor.act("failover", "orders-1", {}, "run1-s9-orders-1", timeout=60)["changed"] is False
    assert executor.act("upgrade_engine", "orders-1", {"version": "16.1"}, "k2", timeout=60)["changed"] is False
    assert len(aws.asked_for("FailoverDBCluster")) == 1 and len(aws.asked_for("ModifyDBCluster")) == 1


def test_a_call_aws_refused_is_asked_again_on_retry(aws, aurora, requester):
    writer, _ = aurora
    run = services.run_start(occurrence=open_occurrence([writer]), requested_by=requester,
                             template=template([{"type": "manual", "name": "wait"}], executor="rds"))  # fmt: skip
    busy = f'<ErrorResponse xmlns="{RDS_NS}"><Error><Type>Sender</Type><Code>InvalidDBInstanceState</Code>' \
           "<Message>backing up</Message></Error><RequestId>peer</RequestId></ErrorResponse>"  # fmt: skip
    aws.answers = lambda action, params: (400, busy) if action == "RebootDBInstance" else None
    executor = executor_for("rds", operation=run.operation)
    with pytest.raises(ExecutorError, match="backing up"):
        executor.act("reboot", "orders-2", {}, "run1-s3-orders-2", timeout=60)
    aws.answers = None  # the backup ended; a person retries the step (same key): AWS is asked again
    assert executor.act("reboot", "orders-2", {}, "run1-s3-orders-2", timeout=60) == {
        "rebooted": "orders-2",
        "failover": False,
    }
    assert len(aws.asked_for("RebootDBInstance")) == 2


def test_a_step_the_rds_executor_cannot_do_is_refused_at_save_naming_its_actions(requester):
    body = {"name": "Patch RDS", "executor": "rds",
            "steps": [{"type": "action", "name": "patch it", "action": "switchover", "target": "primary"}]}  # fmt: skip
    response = token_client(requester).post("/api/v1/runbook-templates/", body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"]["steps"] == [
        "Step 1 “patch it”: the rds executor cannot “switchover”; it can: "
        "apply_pending_maintenance, upgrade_engine, reboot, failover."
    ]
    assert not RunbookTemplate.objects.filter(name="Patch RDS").exists()


def test_the_aws_templates_are_shipped():
    assert set(RunbookTemplate.objects.filter(executor__in=("rds", "elasticache")).values_list("name", flat=True)) == {
        "AWS RDS",
        "ElastiCache (Redis)",
    }
