"""Personal API tokens (issued once, found by hash, revoked for good) and changes of a person's access."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from estate.access.models import TOKEN_PREFIX, AccessScope, ApiToken, TokenScope
from estate.audit.choices import AuditAction
from estate.audit.services import audit_record, diff
from estate.core.context import current_request, current_user
from estate.core.services import validated_save

# The scope a token needs beyond its owner's role: ingest is for people who may write telemetry.
SCOPE_PERMISSION = {TokenScope.INGEST: "telemetry.add_sample"}
# The scopes a token may mint: never one that opens more than itself.
MINTABLE = {
    TokenScope.WRITE: set(TokenScope),
    TokenScope.READ: {TokenScope.READ, TokenScope.FEED},
    TokenScope.INGEST: {TokenScope.INGEST},
    TokenScope.FEED: {TokenScope.FEED},
}


def request_token() -> ApiToken | None:
    """The personal token the current request authenticated with (None for a session or no request)."""
    auth = getattr(current_request(), "auth", None)
    return auth if isinstance(auth, ApiToken) else None


def token_expiry_limit(parent: ApiToken | None = None) -> datetime:
    """The latest expiry a new token may have now: API_TOKEN_MAX_DAYS, and never past its parent's."""
    parent = parent or request_token()
    longest = timezone.now() + timedelta(days=settings.API_TOKEN_MAX_DAYS)
    return min(longest, parent.expires_at) if parent is not None else longest


def _check_parent(parent: ApiToken, scope: str, expires_at: datetime) -> None:
    """A token made with a token is bounded by it: a stolen short token must not become a long one."""
    errors = {}
    allowed = MINTABLE.get(parent.scope, set())
    if scope not in allowed:
        names = ", ".join(sorted(allowed)) or "none"
        errors["scope"] = f"A token made with a {parent.scope} token may have the scope {names} at most."
    if expires_at > parent.expires_at:
        bound = parent.expires_at.astimezone(UTC).isoformat(timespec="seconds")
        errors["expires_at"] = f"A token made with another token may not outlive it: {bound} at the latest."
    if errors:
        raise ValidationError(errors)


def token_create(
    *, user, name: str, scope: str, expires_at: datetime, parent: ApiToken | None = None
) -> tuple[ApiToken, str]:
    """A new token and its secret: the caller shows the secret once, it is never stored.

    `parent` is the token the request came with (read from the request when not given).
    """
    needed = SCOPE_PERMISSION.get(scope)
    if needed and not user.has_perm(needed):
        raise ValidationError({"scope": "Your role may not send telemetry, so it may not hold an ingest token."})
    parent = parent or request_token()
    if parent is not None:
        _check_parent(parent, scope, expires_at)
    token = ApiToken(user=user, name=name.strip(), scope=scope, expires_at=expires_at)
    secret = token.issue()
    validated_save(token)
    return token, secret


def _check_may_revoke(actor, token: ApiToken) -> None:
    from estate.access.selectors import manages_tokens

    if actor is None or actor.pk == token.user_id:
        return
    if not manages_tokens(actor):
        raise PermissionDenied("Only an admin whose access covers the whole estate may revoke other people's tokens.")
    if token.user.is_superuser and not actor.is_superuser:
        raise PermissionDenied("Only a superuser may revoke a superuser's token.")


def token_revoke(*, token: ApiToken, actor=None) -> ApiToken:
    """Revoke for good; the owner may, and an unlimited admin (a superuser's token: a superuser)."""
    _check_may_revoke(actor or current_user(), token)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        validated_save(token)
    return token


def token_for_secret(secret: str) -> ApiToken | None:
    """The active token with this secret, with its owner; None for anything else."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    try:  # get(), not first(): the hash is unique, and ordering the one row costs every request its ORDER BY
        return ApiToken.objects.active().select_related("user").get(key_hash=ApiToken.hash(secret))
    except ApiToken.DoesNotExist:
        return None


def token_used(token: ApiToken) -> None:
    """Note the use, one write a minute at most rather than one per request."""
    now = timezone.now()
    if token.last_used_at is None or token.last_used_at < now - timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


# --- a person's access -----------------------------------------------------------------------


def _permission_names(permissions) -> list[str]:
    return sorted(f"{app}.{code}" for app, code in permissions.values_list("content_type__app_label", "codename"))


def access_snapshot_of(obj) -> dict:
    """What decides the access of a person (or, for a group, of everyone in it), as stored now."""
    if isinstance(obj, Group):
        return {"permissions": _permission_names(obj.permissions)}
    row = AccessScope.objects.filter(user=obj).first() if obj.pk else None
    return {
        "superuser": obj.is_superuser,
        "groups": sorted(obj.groups.values_list("name", flat=True)) if obj.pk else [],
        "permissions": _permission_names(obj.user_permissions) if obj.pk else [],
        "scope": "limited" if row is not None else "whole estate",
        "teams": sorted(row.teams.values_list("slug", flat=True)) if row else [],
        "systems": sorted(row.systems.values_list("slug", flat=True)) if row else [],
    }


# A new account's access, for comparing the first save of a person or group against.
NO_ACCESS = {"superuser": False, "groups": [], "permissions": [], "scope": "whole estate", "teams": [], "systems": []}


def access_change_record(obj, before: dict | None, *, message: str = "") -> None:
    """ROLE_CHANGED with what changed, [before, after]; nothing when nothing did (before None: new)."""
    after = access_snapshot_of(obj)
    changes = diff(NO_ACCESS if before is None else before, after)
    if not changes:
        return
    widened = before is not None and before.get("scope") == "limited" and after.get("scope") == "whole estate"
    note = " Widened to the whole estate." if widened else ""
    audit_record(action=AuditAction.ROLE_CHANGED, obj=obj, changes=changes, message=f"{message}{note}".strip())
    if hasattr(obj, "_estate_scope"):
        del obj._estate_scope  # the cached scope is stale now


@transaction.atomic
def role_grant(*, user, role: str, teams=(), systems=()) -> None:
    """Give `user` exactly this role, limited to the teams and systems given (none: the whole estate).

    Granting an unlimited role deletes the scope row explicitly (an empty row covers nothing);
    every change is recorded as ROLE_CHANGED with its before and after.
    """
    from estate.access import roles

    if role not in roles.ROLES:
        raise ValueError(f"Unknown role {role!r}: choose one of {', '.join(roles.ROLES)}.")
    before = access_snapshot_of(user)
    user.groups.remove(*Group.objects.filter(name__in=roles.ROLES))
    user.groups.add(Group.objects.get(name=role))
    if teams or systems:
        scope, _ = AccessScope.objects.get_or_create(user=user)
        scope.teams.set(teams)
        scope.systems.set(systems)
    else:
        AccessScope.objects.filter(user=user).delete()
    access_change_record(user, before, message=f"Role {role} granted.")
