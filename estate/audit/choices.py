from __future__ import annotations

from django.db import models


class AuditAction(models.TextChoices):
    CREATE = "create", "Created"
    CHANGE = "change", "Changed"
    DELETE = "delete", "Deleted"
    LOGIN = "login", "Logged in"
    LOGIN_FAILED = "login_failed", "Log-in failed"
    LOGOUT = "logout", "Logged out"
    OPERATION_STARTED = "operation_started", "Operation started"
    OPERATION_CANCELLED = "operation_cancelled", "Operation cancelled"
    OPERATION_FORCED = "operation_forced", "Operation forced"
    OPERATION_RESUMED = "operation_resumed", "Operation resumed"
    OCCURRENCE_STARTED = "occurrence_started", "Occurrence started"
    OCCURRENCE_COMPLETED = "occurrence_completed", "Occurrence completed"
    OCCURRENCE_FAILED = "occurrence_failed", "Occurrence failed"
    OCCURRENCE_SKIPPED = "occurrence_skipped", "Occurrence skipped"
    OCCURRENCE_CANCELLED = "occurrence_cancelled", "Occurrence cancelled"
    OCCURRENCE_MOVED = "occurrence_moved", "Occurrence moved"
    ACCESS_DENIED = "access_denied", "Access denied"
    ROLE_CHANGED = "role_changed", "Role or scope changed"
    INSTANCE_TAINTED = "instance_tainted", "Instance tainted"
    CHANGE_FORCED = "change_forced", "Change forced"


# Badge colours (Tabler names), in the spirit of core's STATUS_COLOURS: green adds, red removes or
# refuses, yellow forces, blue acts.
ACTION_COLOURS = {
    AuditAction.CREATE: "green",
    AuditAction.CHANGE: "azure",
    AuditAction.DELETE: "red",
    AuditAction.LOGIN: "secondary",
    AuditAction.LOGIN_FAILED: "orange",
    AuditAction.LOGOUT: "secondary",
    AuditAction.OPERATION_STARTED: "blue",
    AuditAction.OPERATION_CANCELLED: "red",
    AuditAction.OPERATION_FORCED: "yellow",
    AuditAction.OPERATION_RESUMED: "blue",
    AuditAction.OCCURRENCE_STARTED: "blue",
    AuditAction.OCCURRENCE_COMPLETED: "green",
    AuditAction.OCCURRENCE_FAILED: "red",
    AuditAction.OCCURRENCE_SKIPPED: "secondary",
    AuditAction.OCCURRENCE_CANCELLED: "red",
    AuditAction.OCCURRENCE_MOVED: "purple",
    AuditAction.ACCESS_DENIED: "orange",
    AuditAction.ROLE_CHANGED: "yellow",
    AuditAction.INSTANCE_TAINTED: "red",
    AuditAction.CHANGE_FORCED: "yellow",
}


# Actions whose `changes` hold [before, after] pairs (the others hold a snapshot).
PAIRED_ACTIONS = {
    AuditAction.CHANGE,
    AuditAction.OPERATION_CANCELLED,
    AuditAction.OPERATION_RESUMED,
    AuditAction.OCCURRENCE_STARTED,
    AuditAction.OCCURRENCE_COMPLETED,
    AuditAction.OCCURRENCE_FAILED,
    AuditAction.OCCURRENCE_SKIPPED,
    AuditAction.OCCURRENCE_CANCELLED,
    AuditAction.OCCURRENCE_MOVED,
    AuditAction.ROLE_CHANGED,
}
