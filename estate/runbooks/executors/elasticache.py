"""The elasticache executor: a Redis (or Valkey) replication group through boto3.

The run's component names its group in its provider config: settings {"region": "eu-west-1",
"replication_group": "sessions"}; credentials as for the rds executor (boto3's chain, none stored).
Actions (AWS acts on the whole group for the first two, replicas before the primary):
- upgrade_engine: ModifyReplicationGroup EngineVersion=params.version, ApplyImmediately; a group whose
  nodes all run it already does nothing;
- apply_service_update: BatchApplyUpdateAction of params.service_update to the group;
- failover: on the primary only (a node no longer primary does nothing): ModifyReplicationGroup
  PrimaryClusterId=params.target when given, else TestFailover of the node's node group.
Each returns once the group is `available` again, waiting by Snooze as the rds executor does.
Facts: each member node, primary or replica, with its engine version.
"""

from __future__ import annotations

from estate.runbooks.executors.base import ExecutorError, Member
from estate.runbooks.executors.rds import AwsExecutor


class ElastiCacheExecutor(AwsExecutor):
    name = "elasticache"
    service = "elasticache"

    @classmethod
    def available_actions(cls) -> tuple[str, ...]:
        return ("upgrade_engine", "apply_service_update", "failover")

    def act(self, action: str, node: str, params: dict, idempotency_key: str, *, timeout: float) -> dict:
        key, group = idempotency_key, self.group_id()
        if action == "upgrade_engine":
            answer = self.upgrade(group, params, key, timeout)
        elif action == "apply_service_update":
            answer = self.apply_update(group, params, key, timeout)
        else:
            answer = self.failover(group, node, params.get("target"), key, timeout)
        if action == "upgrade_engine":  # AWS may still say available just after the call: wait for the version
            settled = all(m.engine_version == answer["engine_version"] for m in self.members())
        elif action == "failover" and answer["changed"]:
            settled = not any(m.name == node and m.role == "primary" for m in self.members())
        else:
            settled = True
        status = self.group(group).get("Status", "")
        self.wait_until(key, timeout, f"replication group {group}", settled, status)
        return answer

    def upgrade(self, group: str, params: dict, key: str, timeout: float) -> dict:
        version = params.get("version")
        if not isinstance(version, str) or not version.strip():
            raise ExecutorError("upgrade_engine needs params.version, the engine version to upgrade to.")
        if all(m.engine_version == version for m in self.members()):
            return {"engine_version": version, "changed": False}
        self.once(key, timeout, lambda: self.call("modify_replication_group", ReplicationGroupId=group,
                                                  EngineVersion=version, ApplyImmediately=True))  # fmt: skip
        return {"engine_version": version, "changed": True}

    def apply_update(self, group: str, params: dict, key: str, timeout: float) -> dict:
        update = params.get("service_update")
        if not isinstance(update, str) or not update.strip():
            raise ExecutorError("apply_service_update needs params.service_update, the service update's name.")

        def request():
            answer = self.call("batch_apply_update_action", ReplicationGroupIds=[group], ServiceUpdateName=update)
            refused = answer.get("UnprocessedUpdateActions") or []
            if refused:
                raise ExecutorError(f"AWS did not apply {update}: {refused[0].get('ErrorMessage', 'no reason given')}")

        self.once(key, timeout, request)
        return {"service_update": update}

    def failover(self, group: str, node: str, target: str | None, key: str, timeout: float) -> dict:
        if self.requested(key):
            return {"primary": target or "", "changed": True}
        described = self.group(group)
        primaries = {m["CacheClusterId"]: g["NodeGroupId"] for g in described.get("NodeGroups", [])
                     for m in g.get("NodeGroupMembers", []) if m.get("CurrentRole") == "primary"}  # fmt: skip
        if node not in primaries:
            return {"primary": ", ".join(sorted(primaries)), "changed": False}
        if target:
            self.once(key, timeout, lambda: self.call("modify_replication_group", ReplicationGroupId=group,
                                                      PrimaryClusterId=target, ApplyImmediately=True))  # fmt: skip
        else:
            self.once(key, timeout, lambda: self.call("test_failover", ReplicationGroupId=group,
                                                      NodeGroupId=primaries[node]))  # fmt: skip
        return {"primary": target or "", "changed": True}

    # --- facts -------------------------------------------------------------------------------
    def facts(self, component, *, key: str) -> list[Member]:
        return self.members()

    def members(self) -> list[Member]:
        described = self.group(self.group_id())
        roles = {m["CacheClusterId"]: m.get("CurrentRole", "") for g in described.get("NodeGroups", [])
                 for m in g.get("NodeGroupMembers", [])}  # fmt: skip
        for name in described.get("MemberClusters", []):
            roles.setdefault(name, "")
        versions = {c["CacheClusterId"]: c.get("EngineVersion", "")
                    for c in self.call("describe_cache_clusters").get("CacheClusters", [])}  # fmt: skip
        return [Member(name=name, role="primary" if role == "primary" else "replica",
                       engine_version=versions.get(name, "")) for name, role in sorted(roles.items())]  # fmt: skip

    def group_id(self) -> str:
        group = self.settings().get("replication_group")
        if not group:
            raise ExecutorError(f"{self.operation.component}: its provider config names no replication_group.")
        return group

    def group(self, group: str) -> dict:
        return self.call("describe_replication_groups", ReplicationGroupId=group)["ReplicationGroups"][0]
