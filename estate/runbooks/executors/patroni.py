"""The Patroni executor: PostgreSQL under Patroni, through its REST API (estate.patching.patroni).

The run's component names the cluster in its provider config: settings {"url": "http://10.0.0.5:8008",
"user": "estate"} (one member's REST endpoint is enough: the client reads the cluster view from it and
sends each member's own commands to the address Patroni advertises for it) and secret_env, the
variable holding the REST API's password. Actions:
- restart: restart the node's PostgreSQL (after its packages were upgraded) and wait until it runs;
- switchover: hand the leadership from the node (the leader when the step started) to the first
  running replica (or params.candidate) and wait until the old leader follows. Asked again after it
  happened (a worker that died mid-call), it finds the node no longer leads and only waits.
Facts: every member, its role, its PostgreSQL version and its replication lag in seconds.
"""

from __future__ import annotations

from estate.operations.providers import ProviderError, provider_config
from estate.operations.providers.signing import provider_secret
from estate.patching.patroni import PatroniClient, PatroniError, wait_for
from estate.runbooks.executors.base import Executor, ExecutorError, ExecutorTimeout, Member


class PatroniExecutor(Executor):
    name = "patroni"

    @classmethod
    def available_actions(cls) -> tuple[str, ...]:
        return ("restart", "switchover")

    def client(self) -> PatroniClient:
        config = provider_config(self.operation.component)
        url = (config.settings.get("url") if config else "") or ""
        if not url:
            raise ExecutorError(f"{self.operation.component}: its provider config names no Patroni url.")
        try:
            password = provider_secret(config, required=False)
        except ProviderError as exc:
            raise ExecutorError(str(exc)) from exc
        user = config.settings.get("user", "")
        return PatroniClient(url, auth=(user, password) if user else None)

    def act(self, action: str, node: str, params: dict, idempotency_key: str, *, timeout: float) -> dict:
        try:
            if action == "restart":
                self.client().restart(node, timeout=timeout)
                return {"restarted": node}
            return {"leader": self.switchover(node, params.get("candidate"), timeout=timeout)}
        except PatroniError as exc:
            raise (ExecutorTimeout if "timed out" in exc.reason else ExecutorError)(exc.reason) from exc

    def switchover(self, leader: str, candidate: str | None, *, timeout: float) -> str:
        client = self.client()
        current = client.leader()
        if current.name != leader:  # done already (by this key before a crash, or by someone else): wait only
            wait_for(lambda: client.switchover_done(leader, current.name), timeout=timeout, what="the switchover")
            return current.name
        if not candidate:
            running = sorted(m.name for m in client.members() if not m.is_leader and m.state == "running")
            if not running:
                raise ExecutorError(f"no running replica can take over from {leader}")
            candidate = running[0]
        return client.switchover(leader, candidate, timeout=timeout).name

    def facts(self, component, *, key: str) -> list[Member]:
        try:
            client = self.client()
            return [self.member(client, m) for m in client.members()]
        except PatroniError as exc:
            raise ExecutorError(exc.reason) from exc

    @staticmethod
    def member(client: PatroniClient, member) -> Member:
        try:
            version = client.server_version(member.name)
        except PatroniError:
            version = ""  # its PostgreSQL is down (restarting): the version is unknown, not an error
        lag = None
        if not member.is_leader:
            try:
                lag = client.replication_lag_seconds(member.name)
            except PatroniError:
                lag = None
        role = "primary" if member.is_leader else "replica"
        return Member(name=member.name, role=role, engine_version=version, lag_seconds=lag)
