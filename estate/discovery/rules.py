"""Who may read and who may manage discovery (the API and the command ask the same questions)."""

from __future__ import annotations

from estate.access import roles

MANAGE_REFUSED = "Managing discovery sources needs the admin role."


def may_read(user) -> bool:
    return roles.has_role(user) and user.has_perm("inventory.view_component")


def may_manage(user) -> bool:
    """Admins; an admin limited to some teams or systems is refused by the write guard, since a
    source writes across the whole estate."""
    return roles.has_role(user) and roles.role_of(user) == roles.ADMIN
