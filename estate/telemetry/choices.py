from __future__ import annotations

from django.db import models

from estate.inventory.choices import Category, Health


class ItemType(models.TextChoices):
    HEARTBEAT = "heartbeat", "Heartbeat"
    SAMPLE = "sample", "Metric sample"
    EVENT = "event", "Event"


class MutationKind(models.TextChoices):
    """Event kinds that mean a person or a tool changed an instance after deploy (principle 1)."""

    SSH_SESSION = "ssh_session", "SSH session"
    CONFIG_CHANGE = "config_change", "Config change"
    PACKAGE_INSTALL = "package_install", "Package install"
    FILE_CHANGE = "file_change", "File change"


MUTATION_KINDS = frozenset(MutationKind.values)


class Aggregation(models.TextChoices):
    AVG = "avg", "Average"
    MAX = "max", "Maximum"
    MIN = "min", "Minimum"
    SUM = "sum", "Sum"
    COUNT = "count", "Count"


class Comparison(models.TextChoices):
    ABOVE = "above", "Above"
    BELOW = "below", "Below"


class HeartbeatState(models.TextChoices):
    """healthchecks.io's words: fresh inside the period, late inside the grace, down past it."""

    NEVER = "never", "Never reported"
    FRESH = "fresh", "Fresh"
    LATE = "late", "Late"
    DOWN = "down", "Down"
    NOT_CONFIGURED = "not_configured", "Not configured"


# Worst first: a component takes the worst state among its signals.
HEALTH_SEVERITY = {Health.DOWN: 0, Health.DEGRADED: 1, Health.UNKNOWN: 2, Health.HEALTHY: 3}

# (metric, aggregation, window seconds, comparison, warn, critical, unit) per category.
DEFAULT_RULES: dict[str, list[tuple]] = {
    Category.SERVICE: [
        ("http_error_rate", Aggregation.AVG, 300, Comparison.ABOVE, 0.02, 0.10, "ratio"),
        ("latency_p95_ms", Aggregation.AVG, 300, Comparison.ABOVE, 500, 2000, "ms"),
        ("cpu_percent", Aggregation.AVG, 600, Comparison.ABOVE, 80, 95, "%"),
    ],
    Category.CONTAINER: [
        ("http_error_rate", Aggregation.AVG, 300, Comparison.ABOVE, 0.02, 0.10, "ratio"),
        ("memory_percent", Aggregation.MAX, 600, Comparison.ABOVE, 85, 95, "%"),
        ("cpu_percent", Aggregation.AVG, 600, Comparison.ABOVE, 80, 95, "%"),
    ],
    Category.WORKER: [
        ("job_failure_rate", Aggregation.AVG, 900, Comparison.ABOVE, 0.05, 0.25, "ratio"),
        ("queue_lag_seconds", Aggregation.MAX, 600, Comparison.ABOVE, 300, 1800, "s"),
    ],
    Category.FUNCTION: [
        ("error_rate", Aggregation.AVG, 300, Comparison.ABOVE, 0.02, 0.10, "ratio"),
        ("duration_p95_ms", Aggregation.AVG, 300, Comparison.ABOVE, 3000, 10000, "ms"),
    ],
    Category.DATABASE: [
        ("replication_lag_seconds", Aggregation.MAX, 300, Comparison.ABOVE, 30, 300, "s"),
        ("connections_used_percent", Aggregation.MAX, 300, Comparison.ABOVE, 80, 95, "%"),
        ("disk_used_percent", Aggregation.MAX, 900, Comparison.ABOVE, 80, 90, "%"),
    ],
    Category.CACHE: [
        ("memory_percent", Aggregation.MAX, 300, Comparison.ABOVE, 85, 95, "%"),
        ("hit_ratio", Aggregation.AVG, 900, Comparison.BELOW, 0.8, 0.5, "ratio"),
    ],
    Category.QUEUE: [
        ("queue_depth", Aggregation.MAX, 600, Comparison.ABOVE, 10000, 100000, "messages"),
        ("disk_used_percent", Aggregation.MAX, 900, Comparison.ABOVE, 80, 90, "%"),
    ],
    Category.OBJECT_STORE: [
        ("error_rate", Aggregation.AVG, 300, Comparison.ABOVE, 0.01, 0.05, "ratio"),
    ],
    Category.FILE_STORE: [
        ("disk_used_percent", Aggregation.MAX, 900, Comparison.ABOVE, 80, 90, "%"),
    ],
}
