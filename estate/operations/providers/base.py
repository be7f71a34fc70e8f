"""The interface every provider implements; each call must be safe to repeat (a redelivered job repeats it)."""

from __future__ import annotations

from collections.abc import Sequence


class ProviderError(Exception):
    """The provider refused or failed; the message goes into the operation's error."""


class Snooze(Exception):  # noqa: N818 - a signal, not an error
    """Not yet: what this step waits for has not happened and its deadline has not passed.

    Raised instead of sleeping: the engine gives the worker back and wakes the operation again after
    `seconds` (see engine.Run.snooze). Every provider call must therefore be safe to repeat.
    """

    def __init__(self, seconds: float, why: str = ""):
        super().__init__(why or f"waiting {seconds:g} s")
        self.seconds = max(float(seconds), 0.0)


class OperationProvider:
    name = ""

    def heartbeat(self) -> None:
        """Renews the worker's lease during a long call; the engine replaces it with its own."""

    def build_image(self, operation) -> dict:
        """Build a new image for operation.component; returns {"version": ..., "reference": ...}."""
        raise NotImplementedError

    def launch(self, operation, replacement, image):
        """Launch the instance that replaces replacement.old_instance; the same replacement gives the same instance."""
        raise NotImplementedError

    def refresh(self, operation, instances: Sequence) -> None:
        """Let the provider record what it knows of the new instances (state, readiness) before a health gate."""

    def terminate(self, operation, instances: Sequence) -> None:
        """Terminate the given instances; terminating one already gone is not an error."""
        raise NotImplementedError
