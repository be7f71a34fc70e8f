"""A pretend database node for the command executor's tests: records every call, honours idempotency keys.

    node.py STATE_DIR ACTION NODE KEY PARAMS_JSON

STATE_DIR/cluster.json holds the members (name, role, engine_version, lag_seconds), "target_version"
and "sleep" ({action: seconds}). Every call is appended to asked.log; an action's effect happens once
per key (performed.log), under a lock per key: a second call with the same key, even while the first
is still running (a worker killed mid-step and its successor), waits and answers what the first did.
"""

from __future__ import annotations

import fcntl
import json
import sys
import time
from pathlib import Path


def main(state: Path, action: str, node: str, key: str, params: str) -> int:
    cluster_file = state / "cluster.json"
    with open(state / "asked.log", "a") as log:
        log.write(f"{action} {node} {key}\n")
    if action == "facts":
        print(json.dumps({"members": json.loads(cluster_file.read_text())["members"]}))
        return 0
    (state / "keys").mkdir(exist_ok=True)
    with open(state / "keys" / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = state / "keys" / f"{key}.done"
        if done.exists():
            print(done.read_text())
            return 0
        cluster = json.loads(cluster_file.read_text())
        time.sleep(float(params and json.loads(params).get("sleep", 0)) or cluster.get("sleep", {}).get(action, 0))
        if action == "fail":
            print("the node refused", file=sys.stderr)
            return 3
        effect(cluster, action, node)
        cluster_file.write_text(json.dumps(cluster))
        answer = json.dumps({"node": node, "action": action})
        done.write_text(answer)
        with open(state / "performed.log", "a") as log:
            log.write(f"{action} {node} {key}\n")
        print(answer)
    return 0


def effect(cluster: dict, action: str, node: str) -> None:
    members = {m["name"]: m for m in cluster["members"]}
    if action == "patch":
        members[node]["engine_version"] = cluster["target_version"]
    elif action == "switchover":  # the node named (the primary) steps down; the first replica takes over
        replica = sorted(n for n, m in members.items() if m["role"] == "replica")[0]
        members[node]["role"], members[replica]["role"] = "replica", "primary"


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), *sys.argv[2:6]))
