"""Signals core sends so that higher apps (the audit trail) hear of writes without core importing them."""

from __future__ import annotations

from django.dispatch import Signal

# Sent by validated_save / validated_delete inside the write's transaction, with keyword arguments
# instance, action ("create", "change", "delete" or a more specific verb), before and after
# ({field: value}, only the fields that changed for a change) and message.
estate_written = Signal()
