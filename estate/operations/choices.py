from __future__ import annotations

from django.db import models


class OperationKind(models.TextChoices):
    REBUILD_IMAGE = "rebuild_image", "Rebuild image"
    REPLACE_INSTANCES = "replace_instances", "Replace instances"
    ROLL_COMPONENT = "roll_component", "Roll component"
    RUN_RUNBOOK = "run_runbook", "Run runbook"


# What a person or a policy starts on a component; a runbook run starts from its occurrence (estate/runbooks).
COMPONENT_KINDS = [(k.value, k.label) for k in (OperationKind.REBUILD_IMAGE, OperationKind.REPLACE_INSTANCES,
                                                 OperationKind.ROLL_COMPONENT)]  # fmt: skip


class OperationState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused at a checkpoint"
    CANCELLING = "cancelling", "Cancelling"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


# States in which an operation holds its component: at most one such operation per component.
ACTIVE_STATES = (
    OperationState.QUEUED,
    OperationState.RUNNING,
    OperationState.PAUSED,
    OperationState.CANCELLING,
)
FINISHED_STATES = (OperationState.SUCCEEDED, OperationState.FAILED, OperationState.CANCELLED)

STATE_COLOURS = {
    OperationState.QUEUED: "secondary",
    OperationState.RUNNING: "blue",
    OperationState.PAUSED: "yellow",
    OperationState.CANCELLING: "orange",
    OperationState.SUCCEEDED: "green",
    OperationState.FAILED: "red",
    OperationState.CANCELLED: "secondary",
}


class StepLevel(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    ERROR = "error", "Error"


class ReplacementState(models.TextChoices):
    PENDING = "pending", "Pending"
    LAUNCHED = "launched", "New instance launched"
    DONE = "done", "Replaced"
    ROLLED_BACK = "rolled_back", "Rolled back"
    SKIPPED = "skipped", "Skipped"
