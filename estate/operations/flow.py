"""What the engine's steps raise and write: shared by the engine and its roll steps."""

from __future__ import annotations

from estate.operations.choices import StepLevel
from estate.operations.models import Operation, OperationStep


class LeaseLost(Exception):
    """Another worker holds the operation now; this one stops without touching it."""


class GateFailed(Exception):
    """A batch's new instances did not become healthy in time, or capacity would drop too low."""


class Cancelled(Exception):
    """A person asked to cancel: raised by the lease renewal inside every wait, so the wait stops now."""


def log_step(operation: Operation, message: str, *, level: str = StepLevel.INFO, batch: int | None = None) -> None:
    OperationStep.objects.create(operation=operation, message=message[:1000], level=level, batch=batch)
