"""The three roles, as Django groups whose permissions are kept in step with this file.

viewer   reads everything;
operator also manages patch windows and occurrences, and starts and cancels operations;
admin    also manages the inventory, telemetry rules, policies, users and tokens.
A role may be limited to some teams or systems with an AccessScope (see scope.py).
"""

from __future__ import annotations

from fnmatch import fnmatchcase

from django.contrib.auth.models import Group, Permission

VIEWER, OPERATOR, ADMIN = "viewer", "operator", "admin"
ESTATE_APPS = (
    "inventory", "telemetry", "patching", "operations", "runbooks", "outbox", "notifications", "access", "audit",
)  # fmt: skip

READ_ALL = [(app, "view_*") for app in ESTATE_APPS]
OPERATE = [
    ("patching", "add_patchwindow"),
    ("patching", "change_patchwindow"),
    ("patching", "delete_patchwindow"),
    ("patching", "add_occurrence"),
    ("patching", "change_occurrence"),
    ("operations", "add_operation"),
    ("operations", "change_operation"),
    ("runbooks", "*_runbooktemplate"),  # operators write the runbooks of the windows they manage
    ("runbooks", "*_windowrunbook"),
    ("outbox", "change_outboxmessage"),  # retry a message that gave up
]
ADMINISTER = [(app, "*") for app in ESTATE_APPS] + [("auth", "*")]

ROLES: dict[str, list[tuple[str, str]]] = {
    VIEWER: READ_ALL,
    OPERATOR: READ_ALL + OPERATE,
    ADMIN: READ_ALL + OPERATE + ADMINISTER,
}


def permissions_for(role: str) -> list[Permission]:
    patterns = ROLES[role]
    perms = Permission.objects.select_related("content_type")
    return [
        p
        for p in perms
        if any(p.content_type.app_label == app and fnmatchcase(p.codename, code) for app, code in patterns)
    ]


def sync_roles(**kwargs) -> None:
    """Create the role groups and set their permissions exactly (run after every migrate)."""
    for role in ROLES:
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set(permissions_for(role))


def role_of(user) -> str:
    """The strongest role a person holds ("" when none); superusers are admins."""
    if user.is_superuser:
        return ADMIN
    names = {g.name for g in user.groups.all()}
    return next((role for role in (ADMIN, OPERATOR, VIEWER) if role in names), "")


def grant(user, role: str, *, teams=(), systems=()) -> None:
    """Give `user` exactly this role, limited to the teams and systems given (none: the whole estate)."""
    from estate.access.services import role_grant

    role_grant(user=user, role=role, teams=teams, systems=systems)


NO_ROLE = "Your account has no role yet: ask an admin to make you a viewer, operator or admin."


def has_role(user) -> bool:
    """A role, or any Estate permission given one by one (an auditor who reads only the trail).

    A person with none (a new account, say) may log in and out, nothing more.
    """
    if user is None or not user.is_authenticated:
        return False
    return user.is_superuser or any(p.split(".", 1)[0] in ESTATE_APPS for p in user.get_all_permissions())
