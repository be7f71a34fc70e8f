from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

from estate.audit.choices import PAIRED_ACTIONS, AuditAction

APPEND_ONLY = "audit events are append-only"


class AppendOnlyError(Exception):
    """An audit event was about to be changed or deleted through the app."""


class AuditEventQuerySet(models.QuerySet):
    """Reads as usual; bulk changes and deletes are refused (the database refuses them too)."""

    def update(self, **kwargs):
        raise AppendOnlyError(APPEND_ONLY)

    def delete(self):
        raise AppendOnlyError(APPEND_ONLY)

    _raw_delete = delete
    bulk_update = update


class AuditEvent(models.Model):
    """One thing someone (or the system) did: who, when, from where, to what, and what changed.

    Append-only: rows are only ever inserted. No foreign key on purpose: deleting a user or the
    object must never cascade into its history, and the record keeps the names it had then.
    `changes` is {field: [before, after]} for a change and {field: value} for a create or delete.
    """

    id = models.BigAutoField(primary_key=True)
    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor_id = models.IntegerField(null=True, blank=True)
    actor = models.CharField(max_length=150, blank=True, help_text='The username; "system" for scheduled work.')
    ip = models.GenericIPAddressField(null=True, blank=True)
    via = models.CharField(max_length=120, blank=True, help_text="session, token:<name>, ingest-token or worker.")
    action = models.CharField(max_length=30, choices=AuditAction.choices)
    object_type = models.CharField(max_length=100, blank=True, help_text="app_label.model")
    object_id = models.CharField(max_length=64, blank=True, db_index=True)
    object_repr = models.CharField(max_length=300, blank=True)
    changes = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    message = models.TextField(blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["object_type", "object_id", "at"], name="audit_object_at"),
            models.Index(fields=["actor", "at"], name="audit_actor_at"),
            models.Index(fields=["action", "at"], name="audit_action_at"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor or '-'} {self.action} {self.object_type} {self.object_id}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError(APPEND_ONLY)
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError(APPEND_ONLY)

    @property
    def is_diff(self) -> bool:
        """Whether `changes` holds [before, after] pairs rather than a snapshot of values."""
        return self.action in PAIRED_ACTIONS

    @property
    def change_rows(self) -> list[tuple[str, object, object]]:
        """(field, before, after) of a diff, or (field, value, None) of a snapshot, for the template."""
        rows = []
        for name, value in (self.changes or {}).items():
            if self.is_diff and isinstance(value, list) and len(value) == 2:
                rows.append((name, value[0], value[1]))
            else:
                rows.append((name, value, None))
        return rows
