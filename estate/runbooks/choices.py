from __future__ import annotations

from django.db import models


class StepType(models.TextChoices):
    ACTION = "action", "Action"
    GATE = "gate", "Gate"
    APPROVAL = "approval", "Approval"
    MANUAL = "manual", "Manual"
    NOTIFY = "notify", "Notify"


class StepState(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    WAITING = "waiting", "Waiting for its conditions"
    ASKING = "asking", "Waiting for a person"
    DONE = "done", "Done"
    SKIPPED = "skipped", "Skipped"


STEP_STATE_COLOURS = {
    StepState.PENDING: "secondary",
    StepState.RUNNING: "blue",
    StepState.WAITING: "azure",
    StepState.ASKING: "yellow",
    StepState.DONE: "green",
    StepState.SKIPPED: "secondary",
}


class Decision(models.TextChoices):
    """What a person may answer a run that asks: the console's buttons and the API's actions."""

    APPROVE = "approve", "Approve"
    TICK = "tick", "Mark done"
    RETRY = "retry", "Retry"
    SKIP = "skip", "Skip"
    ABORT = "abort", "Abort"


class Target(models.TextChoices):
    """Which cluster members an action step acts on (from the executor's facts, at the step's start)."""

    COMPONENT = "component", "The component as a whole"
    REPLICAS = "replicas", "Each replica, one at a time"
    PRIMARY = "primary", "The primary"
    MEMBERS = "members", "Every member, replicas first"


class ConditionKind(models.TextChoices):
    HEALTH = "health", "Health from telemetry"
    LAG = "lag", "Replication lag (executor facts)"
    PROMQL = "promql", "PromQL condition"
    DEPENDENTS_ERROR_RATE = "dependents_error_rate", "Dependents' error rate"
