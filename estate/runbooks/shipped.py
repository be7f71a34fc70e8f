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

SHIPPED = [POSTGRESQL_UNDER_PATRONI]
