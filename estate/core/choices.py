from __future__ import annotations

from django.db import models


class Severity(models.TextChoices):
    CRITICAL = "critical", "Critical"
    WARNING = "warning", "Warning"
    INFO = "info", "Info"


SEVERITY_ORDER = {Severity.CRITICAL: 0, Severity.WARNING: 1, Severity.INFO: 2}

# One colour mapping for badges, tiles, charts and the calendar (Tabler colour names).
STATUS_COLOURS = {
    "critical": "red",
    "warning": "yellow",
    "info": "azure",
    "immutable": "teal",
    "bastion": "purple",
    "healthy": "green",
    "degraded": "yellow",
    "down": "red",
    "unknown": "secondary",
    "maintenance": "blue",
    # An analysis gate's verdicts (operations): a check and the gate as a whole.
    "pass": "green",
    "passed": "green",
    "fail": "red",
    "failed": "red",
    "baking": "blue",
}
