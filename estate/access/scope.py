"""Scoping: a person limited to some teams or systems may only change what belongs to them.

Each scoped model answers `scope_targets(m2m)` with the (team id, system id) pairs it belongs
to, or None when it belongs to the whole estate (environments, tags, estate-wide freezes...).
A target is in a person's scope when its team or its system is one of theirs. Models that do not
answer, and objects with no target at all ([]: a window whose components are gone), are
estate-wide too: a scoped person is refused rather than let through by omission.

A scope is a limit as long as its row exists: one whose last team and system were removed covers
nothing and refuses every write. Only a person with no AccessScope row (or a superuser) acts on the
whole estate. Personal objects (a token, a feed) answer `scope_owner_id()` instead: a scoped person
may write their own, nobody else's.

The check runs in the services' write path (core.services.guard_write), so the UI, the API and
bulk endpoints refuse the same writes with the same message; reads are never scoped.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db.models import Q

from estate.core.context import current_user
from estate.core.errors import ApplicationError

Target = tuple[int | None, int | None]  # (team id, system id)


@dataclass(frozen=True)
class UserScope:
    team_ids: frozenset[int]
    system_ids: frozenset[int]

    @property
    def empty(self) -> bool:
        return not self.team_ids and not self.system_ids

    def covers(self, target: Target) -> bool:
        team_id, system_id = target
        return team_id in self.team_ids or system_id in self.system_ids


def scope_of(user) -> UserScope | None:
    """The person's scope, or None when they may act on the whole estate (cached on the user).

    An existing row is a limit even when it holds nothing: an empty scope must never read as
    "everything", or deleting a person's last team would widen their role.
    """
    if user is None or user.is_superuser:
        return None
    if not hasattr(user, "_estate_scope"):
        from estate.access.models import AccessScope

        row = AccessScope.objects.filter(user=user).prefetch_related("teams", "systems").first()
        scope = None
        if row is not None:
            scope = UserScope(frozenset(t.pk for t in row.teams.all()), frozenset(s.pk for s in row.systems.all()))
        user._estate_scope = scope
    return user._estate_scope


def within(user, components):
    """The components (a queryset) this person may change: all of them when unlimited, none when empty.
    For pickers, so a form offers only what its save would accept; the save's guard still decides."""
    scope = scope_of(user)
    if scope is None:
        return components
    return components.filter(Q(team_id__in=scope.team_ids) | Q(system_id__in=scope.system_ids))


def targets_of(obj, m2m: dict | None = None) -> list[Target] | None:
    method = getattr(obj, "scope_targets", None)
    return None if method is None else method(m2m or {})


LIMITED = "Your access is limited to some teams and systems"


def empty_scope_refusal() -> str:
    from estate.access.selectors import unlimited_admin_names

    names = unlimited_admin_names()
    who = f" ({', '.join(names)})" if names else ""
    return (
        "Your access scope is empty (the teams and systems it named are gone), so you may change nothing. "
        f"Ask an admin whose access covers the whole estate{who} to set your access."
    )


def refusal(user, obj, m2m: dict | None = None) -> str:
    """Why `user` may not write `obj` as it is now (or will be, with m2m); "" when they may."""
    scope = scope_of(user)
    if scope is None:
        return ""
    label = obj._meta.verbose_name
    owner_of = getattr(obj, "scope_owner_id", None)
    if owner_of is not None:  # personal: decided by ownership, whatever the scope holds
        return "" if owner_of() == user.pk else f"{LIMITED}; this {label} belongs to another person."
    if scope.empty:
        return empty_scope_refusal()
    targets = targets_of(obj, m2m)
    if not targets:  # None, or [] (nothing to belong to): estate-wide, never "all of nothing"
        return f"{LIMITED}; this {label} concerns the whole estate."
    if all(scope.covers(t) for t in targets):
        return ""
    return f"{LIMITED}; this {label} belongs to one outside them."


def allows(user, obj) -> bool:
    """For pages: may this person change obj (scope only; model permissions are checked apart)."""
    scope = scope_of(user)
    if scope is not None and scope.empty and getattr(obj, "scope_owner_id", None) is None:
        return False  # known without the query that names whom to ask
    return not refusal(user, obj)


def check_write(obj, m2m: dict) -> None:
    """The write guard: refuse a scoped person's write to, or away from, something outside their scope."""
    user = current_user()
    if scope_of(user) is None:
        return
    reason = refusal(user, obj, m2m)
    if not reason and obj.pk is not None and not obj._state.adding:
        stored = type(obj)._default_manager.filter(pk=obj.pk).first()
        reason = refusal(user, stored) if stored is not None else ""
    if reason:
        raise PermissionDenied(reason)


def require(user, obj) -> None:
    """For views that must refuse before reading a form: the same rule, asked early."""
    if reason := refusal(user, obj):
        raise PermissionDenied(reason)


# What an AccessScope rests on: deleting one of these would change whose access it limits.
SCOPE_FIELDS = {"inventory.team": "teams", "inventory.system": "systems"}


def check_delete(obj) -> None:
    """The delete guard: nobody deletes a team or system that limits someone's access.

    Deleting it would silently narrow (or, before empty scopes refused everything, widen) those
    people's access; their access is changed first, explicitly and audited, then the object goes.
    """
    field = SCOPE_FIELDS.get(obj._meta.label_lower)
    if field is None:
        return
    from estate.access.models import AccessScope

    names = list(
        AccessScope.objects.filter(**{field: obj}).order_by("user__username").values_list("user__username", flat=True)
    )
    if names:
        label = obj._meta.verbose_name.capitalize()
        raise ApplicationError(
            f"{label} {obj} limits the access of {', '.join(names)}; change their access first.", status=409
        )
