"""Who may read and who may manage discovery (the API and the command ask the same questions)."""

from __future__ import annotations

from estate.access import roles, scope

MANAGE_REFUSED = "Managing discovery sources needs the admin role over the whole estate: a source writes across it."


def may_read(user) -> bool:
    return roles.has_role(user) and user.has_perm("inventory.view_component")


def may_manage(user) -> bool:
    """Admins whose access is not limited to some teams or systems, since a source writes across the
    whole estate (asked here, not only by the write guard: a sync request writes no source row)."""
    return roles.has_role(user) and roles.role_of(user) == roles.ADMIN and scope.scope_of(user) is None
