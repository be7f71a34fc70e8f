"""Scoping: a person limited to some teams or systems may only change what belongs to them.

Each scoped model answers `scope_targets(m2m)` with the (team id, system id) pairs it belongs
to, or None when it belongs to the whole estate (environments, tags, estate-wide freezes...).
A target is in a person's scope when its team or its system is one of theirs. Models that do not
answer are estate-wide too: a scoped person is refused rather than let through by omission.

The check runs in the services' write path (core.services.guard_write), so the UI, the API and
bulk endpoints refuse the same writes with the same message; reads are never scoped.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied

from estate.core.context import current_user

Target = tuple[int | None, int | None]  # (team id, system id)


@dataclass(frozen=True)
class UserScope:
    team_ids: frozenset[int]
    system_ids: frozenset[int]

    def covers(self, target: Target) -> bool:
        team_id, system_id = target
        return team_id in self.team_ids or system_id in self.system_ids


def scope_of(user) -> UserScope | None:
    """The person's scope, or None when they may act on the whole estate (cached on the user)."""
    if user is None or user.is_superuser:
        return None
    if not hasattr(user, "_estate_scope"):
        from estate.access.models import AccessScope

        row = AccessScope.objects.filter(user=user).prefetch_related("teams", "systems").first()
        scope = None
        if row is not None:
            teams = frozenset(t.pk for t in row.teams.all())
            systems = frozenset(s.pk for s in row.systems.all())
            scope = UserScope(teams, systems) if teams or systems else None
        user._estate_scope = scope
    return user._estate_scope


def targets_of(obj, m2m: dict | None = None) -> list[Target] | None:
    method = getattr(obj, "scope_targets", None)
    return None if method is None else method(m2m or {})


def refusal(user, obj, m2m: dict | None = None) -> str:
    """Why `user` may not write `obj` as it is now (or will be, with m2m); "" when they may."""
    scope = scope_of(user)
    if scope is None:
        return ""
    label = obj._meta.verbose_name
    targets = targets_of(obj, m2m)
    if targets is None:
        return f"Your access is limited to some teams and systems; this {label} concerns the whole estate."
    if all(scope.covers(t) for t in targets):
        return ""
    return f"Your access is limited to some teams and systems; this {label} belongs to one outside them."


def allows(user, obj) -> bool:
    """For pages: may this person change obj (scope only; model permissions are checked apart)."""
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
