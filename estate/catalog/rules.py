"""Who may plan and who may apply a catalog (the API and the page ask the same two questions)."""

from __future__ import annotations

from estate.access import roles

PLAN_REFUSED = "Reading a catalog's plan needs a role that reads the inventory."
APPLY_REFUSED = "Applying a catalog needs the admin role."


def may_plan(user) -> bool:
    return roles.has_role(user) and user.has_perm("inventory.view_component")


def may_apply(user) -> bool:
    """Admins only; an admin limited to some teams or systems is then held to them write by write
    (the access scope's write guard), so a catalog reaching outside their scope is refused whole."""
    return roles.has_role(user) and roles.role_of(user) == roles.ADMIN
