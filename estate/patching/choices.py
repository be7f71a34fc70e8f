from __future__ import annotations

from django.db import models


class ChangeKind(models.TextChoices):
    OS_PATCH = "os_patch", "OS patch"
    MINOR_VERSION = "minor_version", "Minor version"
    MAJOR_UPGRADE = "major_upgrade", "Major upgrade"
    FAILOVER_DRILL = "failover_drill", "Failover drill"
    CONFIGURATION = "configuration", "Configuration"


class ImpactKind(models.TextChoices):
    NONE = "none", "No visible impact"
    FAILOVER_ERRORS = "failover_errors", "Seconds of failover errors"
    READ_ONLY = "read_only", "Minutes read-only"
    ADDED_LATENCY = "added_latency", "Added latency"
    DOWNTIME = "downtime", "Downtime"


class OccurrenceStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"
    CANCELLED = "cancelled", "Cancelled"


# Statuses that free the slot: the component is not touched at that time.
FREE_STATUSES = (OccurrenceStatus.SKIPPED, OccurrenceStatus.CANCELLED)
CLOSED_STATUSES = (
    OccurrenceStatus.COMPLETED,
    OccurrenceStatus.FAILED,
    OccurrenceStatus.SKIPPED,
    OccurrenceStatus.CANCELLED,
)


class FreezeScope(models.TextChoices):
    ALL = "all", "All components"
    ENVIRONMENT = "environment", "One environment"
    SYSTEM = "system", "One system"


class ConflictRule(models.TextChoices):
    SAME_COMPONENT = "same_component", "Same component"
    SAME_CLUSTER = "same_cluster", "Same cluster"
    FREEZE = "freeze", "Change freeze"
    SHARED_DEPENDENT = "shared_dependent", "Shared immutable dependent"


# One colour mapping (Tabler colour names) for badges and the calendar: kind fills, status borders.
CHANGE_KIND_COLOURS = {
    ChangeKind.OS_PATCH: "blue",
    ChangeKind.MINOR_VERSION: "cyan",
    ChangeKind.MAJOR_UPGRADE: "orange",
    ChangeKind.FAILOVER_DRILL: "purple",
    ChangeKind.CONFIGURATION: "teal",
}
STATUS_COLOURS = {
    OccurrenceStatus.PLANNED: "azure",
    OccurrenceStatus.IN_PROGRESS: "blue",
    OccurrenceStatus.COMPLETED: "green",
    OccurrenceStatus.FAILED: "red",
    OccurrenceStatus.SKIPPED: "secondary",
    OccurrenceStatus.CANCELLED: "dark",
}
# Hex values of the Tabler colours above, for FullCalendar which paints with CSS colours.
TABLER_HEX = {
    "blue": "#066fd1",
    "cyan": "#17a2b8",
    "orange": "#f76707",
    "purple": "#ae3ec9",
    "teal": "#0ca678",
    "secondary": "#667382",
    "green": "#2fb344",
    "red": "#d63939",
    "azure": "#4299e1",
    "dark": "#1d273b",
}


class DeadlineSource(models.TextChoices):
    RDS = "rds", "RDS pending maintenance"
    ELASTICACHE = "elasticache", "ElastiCache service update"
    END_OF_LIFE = "eol", "Engine end of life"
