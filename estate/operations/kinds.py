"""Operation kinds that a higher app runs on this engine (a runbook run), without the engine importing it.

The app registers, in its AppConfig.ready(), a function that takes the engine's Run (lease, snooze,
finish) and carries the operation one turn further; engine.Run.run calls it instead of a roll.
"""

from __future__ import annotations

from collections.abc import Callable

_runners: dict[str, Callable] = {}


def register_runner(kind: str, runner: Callable) -> None:
    _runners[kind] = runner


def runner_for(kind: str) -> Callable | None:
    return _runners.get(kind)
