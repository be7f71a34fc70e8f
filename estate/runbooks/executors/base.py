"""The executor interface: each call may be repeated (a worker that died mid-step asks again)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


class ExecutorError(Exception):
    """The executor refused or failed; the run pauses and asks, with this message as the reason."""


class ExecutorTimeout(ExecutorError):
    """The executor did not answer in the step's time."""


@dataclass(frozen=True)
class Member:
    """One node of a cluster as the executor sees it."""

    name: str
    role: str  # "primary" or "replica"
    engine_version: str = ""
    lag_seconds: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def parse(cls, raw) -> Member:
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not raw["name"]:
            raise ExecutorError(f"A member is an object with a name; got {str(raw)[:100]}.")
        lag = raw.get("lag_seconds")
        if lag is not None and (isinstance(lag, bool) or not isinstance(lag, int | float)):
            raise ExecutorError(f"Member {raw['name']}: lag_seconds is a number or null.")
        role = "primary" if raw.get("role") in ("primary", "master", "leader") else "replica"
        return cls(name=raw["name"][:100], role=role, engine_version=str(raw.get("engine_version", ""))[:50],
                   lag_seconds=None if lag is None else float(lag))  # fmt: skip


class Executor:
    """Acts on a cluster's nodes for a run: `operation` is the run's operation, `heartbeat` renews its lease."""

    name = ""

    def __init__(self, *, operation, heartbeat=lambda: None):
        self.operation = operation
        self.heartbeat = heartbeat

    @classmethod
    def available_actions(cls) -> tuple[str, ...]:
        """The actions this executor can do; a runbook naming another is refused at save."""
        raise NotImplementedError

    def act(self, action: str, node: str, params: dict, idempotency_key: str, *, timeout: float) -> dict:
        """Do `action` on `node`; the same key must never do it twice (the answer of the first is returned)."""
        raise NotImplementedError

    def facts(self, component, *, key: str) -> list[Member]:
        """The cluster's members, with role, engine version and replication lag."""
        raise NotImplementedError
