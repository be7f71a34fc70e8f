"""Runbook templates shipped with Estate (created by migration 0002; edit a copy, not these)."""

from __future__ import annotations

CAUGHT_UP = {"type": "gate", "conditions": [{"kind": "health"}, {"kind": "lag", "max_seconds": 5}],
             "hold_seconds": 10, "timeout_seconds": 600}  # fmt: skip

POSTGRESQL_UNDER_PATRONI = {
    "name": "PostgreSQL under Patroni",
    "executor": "patroni",
    "description": (
        "Replicas first, one switchover, the old primary last. Upgrade the packages on every node first "
        "(the running server keeps its old binaries until it restarts); each restart then picks them up. "
        "Attach it to a window over one member of the cluster: the run acts on every member, one at a time."
    ),
    "steps": [
        {**CAUGHT_UP, "name": "the cluster is healthy and caught up"},
        {"type": "notify", "name": "tell the owners", "message": "Patching starts: replicas first, then a switchover."},
        {"type": "manual", "name": "upgrade the PostgreSQL packages on every node"},
        {"type": "action", "name": "restart the replicas", "action": "restart", "target": "replicas"},
        {**CAUGHT_UP, "name": "the replicas rejoined and caught up"},
        {"type": "approval", "name": "approve the switchover (seconds of failover errors)"},
        {"type": "action", "name": "switch over", "action": "switchover", "target": "primary"},
        {**CAUGHT_UP, "name": "the new topology is healthy"},
        {"type": "action", "name": "restart the old primary", "action": "restart", "target": "replicas"},
        {**CAUGHT_UP, "name": "every member caught up"},
        {"type": "notify", "name": "tell the owners it is done", "message": "Patching finished."},
    ],
}

HEALTHY = {"type": "gate", "conditions": [{"kind": "health"}], "hold_seconds": 10, "timeout_seconds": 900}
CLIENTS_FINE = {
    "type": "gate",
    "conditions": [{"kind": "health"}, {"kind": "dependents_error_rate", "max": 0.05}],
    "hold_seconds": 30,
    "timeout_seconds": 900,
}


def aws_action(name: str, action: str, target: str, **params) -> dict:
    """An action on AWS: it takes minutes per node, the step polls (never sleeps) for up to an hour."""
    step = {"type": "action", "name": name, "action": action, "target": target, "timeout_seconds": 3600}
    return {**step, "params": params} if params else step


def notify(name: str, message: str) -> dict:
    return {"type": "notify", "name": name, "message": message}


AWS_RDS = {
    "name": "AWS RDS",
    "executor": "rds",
    "description": (
        "Readers first, one failover, the old writer last. Set params.version on the two upgrade steps to the "
        "engine version to reach (or delete them to apply only pending maintenance). An Aurora cluster fails "
        "over to its first reader; one Multi-AZ instance fails over to its standby (it has no readers: skip "
        "the readers' steps). Attach it to a window over one member: the run acts on every member."
    ),
    "steps": [
        {**HEALTHY, "name": "the database is healthy"},
        notify("tell the owners", "Database maintenance starts: readers first, then a failover."),
        aws_action("apply pending maintenance on the readers", "apply_pending_maintenance", "replicas"),
        aws_action("upgrade the readers", "upgrade_engine", "replicas", version=""),
        {**HEALTHY, "name": "the readers are back"},
        {"type": "approval", "name": "approve the failover (seconds of errors for clients)"},
        aws_action("fail over", "failover", "primary"),
        aws_action("apply pending maintenance on the old writer", "apply_pending_maintenance", "members"),
        aws_action("upgrade the old writer", "upgrade_engine", "members", version=""),
        {**CLIENTS_FINE, "name": "the dependents' error rate is back to normal"},
        notify("tell the owners it is done", "Database maintenance finished."),
    ],
}

ELASTICACHE_REDIS = {
    "name": "ElastiCache (Redis)",
    "executor": "elasticache",
    "description": (
        "AWS upgrades the replicas first; the failover of the primary is approved and gated on the "
        "dependents' error rate (clients break during a failover). Set params.version on the upgrade step, "
        "or replace it by apply_service_update with params.service_update."
    ),
    "steps": [
        {**HEALTHY, "name": "the cache is healthy"},
        notify("tell the owners", "Cache maintenance starts: replicas first, then a failover."),
        aws_action("upgrade the replicas", "upgrade_engine", "component", version=""),
        {**CLIENTS_FINE, "name": "clients are fine after the replicas"},
        {"type": "approval", "name": "approve the failover (clients reconnect)"},
        aws_action("fail over the primary", "failover", "primary"),
        {**CLIENTS_FINE, "name": "clients are fine after the failover"},
        notify("tell the owners it is done", "Cache maintenance finished."),
    ],
}

SHIPPED = [POSTGRESQL_UNDER_PATRONI, AWS_RDS, ELASTICACHE_REDIS]
