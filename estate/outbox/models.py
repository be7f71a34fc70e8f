"""The outbox: a side effect (a silence, a webhook, a mail) is a row first and a call second.

The row is written in the same transaction as the change that causes it, so the effect is never
lost when the receiver, the broker or a worker is down, and never sent for a change that was rolled
back. A Celery task sends it; a failed send waits (exponential backoff) and is tried again until
OUTBOX_MAX_ATTEMPTS, and the row always says where it stands.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from estate.outbox.choices import STATE_COLOURS, MessageState


class OutboxMessage(models.Model):
    """One side effect to deliver: its kind names the registered handler that sends its payload."""

    id = models.BigAutoField(primary_key=True)
    kind = models.CharField(max_length=100, help_text="The handler that sends it, e.g. alertmanager.silence.")
    key = models.CharField(
        max_length=200, blank=True, help_text="Set when one change must cause one message at most (idempotency)."
    )
    summary = models.CharField(max_length=300, blank=True, help_text="What it is, for people reading the outbox.")
    payload = models.JSONField(default=dict)
    state = models.CharField(max_length=10, choices=MessageState.choices, default=MessageState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    result = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "outbox message"
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "key"], condition=~models.Q(key=""), name="outbox_message_unique_key"
            ),
            models.CheckConstraint(condition=models.Q(state__in=MessageState.values), name="outbox_state_known"),
        ]
        indexes = [
            # The sweep's question: what is due now? Only unfinished rows are in the index.
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(state__in=["pending", "sending"]),
                name="outbox_due",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"

    @property
    def colour(self) -> str:
        return STATE_COLOURS[self.state]
