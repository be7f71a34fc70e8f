from __future__ import annotations

from django.db import models


class MessageState(models.TextChoices):
    PENDING = "pending", "Waiting to be sent"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Gave up"


STATE_COLOURS = {
    MessageState.PENDING: "yellow",
    MessageState.SENDING: "blue",
    MessageState.SENT: "green",
    MessageState.FAILED: "red",
}
