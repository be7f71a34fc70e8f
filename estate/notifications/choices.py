from __future__ import annotations

from django.db import models


class NotificationEvent(models.TextChoices):
    OPERATION_FAILED = "operation_failed", "Operation failed"
    OPERATION_CANCELLED = "operation_cancelled", "Operation cancelled"
    BREAKER_TRIPPED = "breaker_tripped", "Remediation breaker tripped"
    CRITICAL_FINDING = "critical_finding", "New critical finding"
    WINDOW_STARTED = "window_started", "Patch window started"
    WINDOW_ENDED = "window_ended", "Patch window ended"
    RUNBOOK_NOTICE = "runbook_notice", "Runbook notice (a notify step)"


class Channel(models.TextChoices):
    WEBHOOK = "webhook", "Webhook (Slack-compatible JSON, signed)"
    EMAIL = "email", "E-mail"
