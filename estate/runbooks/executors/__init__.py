"""Executors: what a runbook's action steps and facts go through (see docs/runbooks.md)."""

from __future__ import annotations

from estate.runbooks.executors.base import Executor, ExecutorError, ExecutorTimeout, Member
from estate.runbooks.executors.command import CommandExecutor
from estate.runbooks.executors.elasticache import ElastiCacheExecutor
from estate.runbooks.executors.patroni import PatroniExecutor
from estate.runbooks.executors.rds import RdsExecutor
from estate.runbooks.executors.webhook import WebhookExecutor

EXECUTORS: dict[str, type[Executor]] = {
    CommandExecutor.name: CommandExecutor,
    ElastiCacheExecutor.name: ElastiCacheExecutor,
    PatroniExecutor.name: PatroniExecutor,
    RdsExecutor.name: RdsExecutor,
    WebhookExecutor.name: WebhookExecutor,
}


def register_executor(executor: type[Executor]) -> None:
    """For an executor shipped elsewhere (Patroni's): registered from an AppConfig.ready()."""
    EXECUTORS[executor.name] = executor


def executor_names() -> list[str]:
    return sorted(EXECUTORS)


def actions_of(name: str) -> tuple[str, ...]:
    executor = EXECUTORS.get(name)
    return executor.available_actions() if executor else ()


def executor_for(name: str, *, operation, heartbeat=lambda: None) -> Executor:
    try:
        executor = EXECUTORS[name]
    except KeyError:
        raise ExecutorError(f"There is no {name!r} executor; there are: {', '.join(executor_names())}.") from None
    return executor(operation=operation, heartbeat=heartbeat)


__all__ = ["EXECUTORS", "Executor", "ExecutorError", "ExecutorTimeout", "Member", "actions_of", "executor_for",
           "executor_names", "register_executor"]  # fmt: skip
