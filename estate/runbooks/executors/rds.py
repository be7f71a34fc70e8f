"""The rds executor: RDS instances and Aurora clusters through boto3.

The run's component names its database in its provider config: settings {"region": "eu-west-1",
"db_cluster": "orders"} for Aurora, or {"region": ..., "db_instance": "orders-db"} for one instance
(Multi-AZ or not). Credentials come from boto3's usual chain (environment, instance profile, and
AWS_ENDPOINT_URL for a test double or proxy); none are stored. Actions, each on one member:
- apply_pending_maintenance: ApplyPendingMaintenanceAction (opt-in immediate) for each action AWS has
  pending on the node; none pending does nothing;
- upgrade_engine: ModifyDBInstance EngineVersion=params.version, ApplyImmediately; a node already at it
  does nothing (Aurora: ModifyDBCluster, the cluster's instances follow);
- reboot: RebootDBInstance, ForceFailover when the instance is Multi-AZ and params.failover;
- failover: Aurora, FailoverDBCluster to params.target or the first reader; one Multi-AZ instance, a
  reboot with failover (its standby takes over).
Each action returns once the node is `available` again. It never sleeps in the worker: while AWS works it
raises Snooze and the next turn asks again with the same key, which only looks (the key is recorded in the
operation's result before AWS is asked); past the step's timeout the run pauses with the reason.
Facts: each member, writer as primary and readers as replicas, its engine version and status.
"""

from __future__ import annotations

import time

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings

from estate.operations.models import Operation
from estate.operations.providers import provider_config
from estate.operations.providers.base import Snooze
from estate.runbooks.executors.base import Executor, ExecutorError, ExecutorTimeout, Member

BOTO_CONFIG = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=30)
RESULT_KEY = "aws_requests"  # {idempotency key: {"deadline": epoch seconds}} in the operation's result


class AwsExecutor(Executor):
    """What the rds and elasticache executors share: the client, the calls' errors, waiting by Snooze."""

    service = ""

    def settings(self) -> dict:
        config = provider_config(self.operation.component)
        return dict(config.settings) if config else {}

    def client(self):
        """One client per executor (a turn of the run): making one loads the service model, the slow part."""
        if getattr(self, "_client", None) is None:
            region = self.settings().get("region") or None
            try:
                self._client = boto3.client(self.service, region_name=region, config=BOTO_CONFIG)
            except BotoCoreError as exc:
                raise ExecutorError(f"AWS {self.service}: {exc}") from exc
        return self._client

    def call(self, method: str, **kwargs) -> dict:
        try:
            return getattr(self.client(), method)(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise ExecutorError(f"AWS {self.service} {method}: {exc}") from exc

    # --- once per key, then wait -------------------------------------------------------------
    def entry(self, key: str) -> dict | None:
        return self.operation.result.get(RESULT_KEY, {}).get(key)

    def requested(self, key: str) -> bool:
        return self.entry(key) is not None

    def write(self, key: str, entry: dict | None) -> None:
        """The key's entry in the operation's result, committed at once (before AWS is asked)."""
        self.heartbeat()  # only the worker holding the lease writes
        requests = {k: v for k, v in self.operation.result.get(RESULT_KEY, {}).items() if k != key}
        if entry is not None:
            requests[key] = entry
        self.operation.result = {**self.operation.result, RESULT_KEY: requests}
        Operation.objects.filter(pk=self.operation.pk).update(result=self.operation.result)

    def once(self, key: str, timeout: float, request) -> None:
        """Ask AWS once per key. A refusal forgets the key (nothing was done): a person's retry asks again."""
        if self.requested(key):
            return
        self.write(key, {"deadline": time.time() + timeout})
        try:
            request()
        except ExecutorError:
            self.write(key, None)
            raise

    def wait_until(self, key: str, timeout: float, what: str, settled: bool, status: str) -> None:
        """Return once the change is seen and `status` is available; else Snooze until the next look, or
        ExecutorTimeout past the deadline (the run pauses; a person's retry waits afresh)."""
        if settled and status == "available":
            return
        entry = self.entry(key) or {}
        if entry.get("expired") or "deadline" not in entry:  # asked again after a timeout, or never asked here
            entry = {"deadline": time.time() + timeout}
            self.write(key, entry)
        left = entry["deadline"] - time.time()
        if left <= 0:
            self.write(key, {**entry, "expired": True})
            raise ExecutorTimeout(f"{what} is still {status!r} after the step's {timeout:g} s.")
        raise Snooze(min(settings.OPERATIONS_POLL_SECONDS, left), f"waiting for {what} ({status})")


class RdsExecutor(AwsExecutor):
    name = "rds"
    service = "rds"

    @classmethod
    def available_actions(cls) -> tuple[str, ...]:
        return ("apply_pending_maintenance", "upgrade_engine", "reboot", "failover")

    def act(self, action: str, node: str, params: dict, idempotency_key: str, *, timeout: float) -> dict:
        key = idempotency_key
        if action == "apply_pending_maintenance":
            answer = self.apply_pending(node, key, timeout)
        elif action == "upgrade_engine":
            answer = self.upgrade(node, params, key, timeout)
        elif action == "reboot":
            answer = self.reboot(node, bool(params.get("failover")), key, timeout)
        else:
            answer = self.failover(node, params.get("target"), key, timeout)
        instance = self.instance(node)
        if action == "upgrade_engine":  # AWS may still say available just after the call: wait for the version
            settled = instance["EngineVersion"] == answer["engine_version"]
        elif action == "failover" and instance.get("DBClusterIdentifier"):
            settled = not any(m.name == node and m.role == "primary" for m in self.members())
        else:
            settled = True
        self.wait_until(key, timeout, node, settled, instance["DBInstanceStatus"])
        return answer

    # --- actions -----------------------------------------------------------------------------
    def apply_pending(self, node: str, key: str, timeout: float) -> dict:
        arn = self.instance(node)["DBInstanceArn"]
        actions = [] if self.requested(key) else self.pending(arn)

        def request():
            for action in actions:
                self.call("apply_pending_maintenance_action", ResourceIdentifier=arn,
                          ApplyAction=action, OptInType="immediate")  # fmt: skip

        if actions:
            self.once(key, timeout, request)
        return {"applied": actions}

    def pending(self, arn: str) -> list[str]:
        answer = self.call("describe_pending_maintenance_actions", ResourceIdentifier=arn)
        return [
            detail["Action"]
            for resource in answer.get("PendingMaintenanceActions", [])
            if resource.get("ResourceIdentifier") == arn
            for detail in resource.get("PendingMaintenanceActionDetails", [])
        ]

    def upgrade(self, node: str, params: dict, key: str, timeout: float) -> dict:
        version = params.get("version")
        if not isinstance(version, str) or not version.strip():
            raise ExecutorError("upgrade_engine needs params.version, the engine version to upgrade to.")
        instance = self.instance(node)
        if instance["EngineVersion"] == version:
            return {"engine_version": version, "changed": False}
        cluster = instance.get("DBClusterIdentifier")
        if cluster:  # Aurora upgrades the cluster: its instances follow
            self.once(key, timeout, lambda: self.call("modify_db_cluster", DBClusterIdentifier=cluster,
                                                      EngineVersion=version, ApplyImmediately=True))  # fmt: skip
        else:
            self.once(key, timeout, lambda: self.call("modify_db_instance", DBInstanceIdentifier=node,
                                                      EngineVersion=version, ApplyImmediately=True))  # fmt: skip
        return {"engine_version": version, "changed": True}

    def reboot(self, node: str, failover: bool, key: str, timeout: float) -> dict:
        multi_az = bool(self.instance(node).get("MultiAZ"))
        force = failover and multi_az
        self.once(key, timeout, lambda: self.call("reboot_db_instance", DBInstanceIdentifier=node, ForceFailover=force))
        return {"rebooted": node, "failover": force}

    def failover(self, node: str, target: str | None, key: str, timeout: float) -> dict:
        instance = self.instance(node)
        cluster = instance.get("DBClusterIdentifier")
        if not cluster:
            if not instance.get("MultiAZ"):
                raise ExecutorError(f"{node} is neither in an Aurora cluster nor Multi-AZ: nothing to fail over to.")
            return self.reboot(node, True, key, timeout)
        if not self.requested(key):
            members = self.members()
            if not any(m.name == node and m.role == "primary" for m in members):
                return {"writer": next((m.name for m in members if m.role == "primary"), ""), "changed": False}
            target = target or next((m.name for m in members if m.role == "replica"), None)
            if not target:
                raise ExecutorError(f"cluster {cluster} has no reader to fail over to.")
            self.once(key, timeout, lambda: self.call("failover_db_cluster", DBClusterIdentifier=cluster,
                                                      TargetDBInstanceIdentifier=target))  # fmt: skip
        return {"writer": target or "", "changed": True}

    # --- facts -------------------------------------------------------------------------------
    def facts(self, component, *, key: str) -> list[Member]:
        return self.members()

    def members(self) -> list[Member]:
        config = self.settings()
        if config.get("db_cluster"):
            clusters = self.call("describe_db_clusters", DBClusterIdentifier=config["db_cluster"])["DBClusters"]
            writers = {m["DBInstanceIdentifier"]: m["IsClusterWriter"] for m in clusters[0]["DBClusterMembers"]}
            return [self.member(self.instance(name), writer) for name, writer in sorted(writers.items())]
        if config.get("db_instance"):
            return [self.member(self.instance(config["db_instance"]), True)]
        raise ExecutorError(f"{self.operation.component}: its provider config names no db_cluster nor db_instance.")

    @staticmethod
    def member(instance: dict, writer: bool) -> Member:
        return Member(name=instance["DBInstanceIdentifier"], role="primary" if writer else "replica",
                      engine_version=instance.get("EngineVersion", ""))  # fmt: skip

    def instance(self, name: str) -> dict:
        return self.call("describe_db_instances", DBInstanceIdentifier=name)["DBInstances"][0]
