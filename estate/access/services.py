"""Personal API tokens: issued once, found by hash, revoked for good."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.utils import timezone

from estate.access.models import TOKEN_PREFIX, ApiToken, TokenScope
from estate.core.services import validated_save

# The scope a token needs beyond its owner's role: ingest is for people who may write telemetry.
SCOPE_PERMISSION = {TokenScope.INGEST: "telemetry.add_sample"}


def token_create(*, user, name: str, scope: str, expires_at: datetime) -> tuple[ApiToken, str]:
    """A new token and its secret: the caller shows the secret once, it is never stored."""
    needed = SCOPE_PERMISSION.get(scope)
    if needed and not user.has_perm(needed):
        raise ValidationError({"scope": "Your role may not send telemetry, so it may not hold an ingest token."})
    token = ApiToken(user=user, name=name.strip(), scope=scope, expires_at=expires_at)
    secret = token.issue()
    validated_save(token)
    return token, secret


def token_revoke(*, token: ApiToken) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        validated_save(token)
    return token


def token_for_secret(secret: str) -> ApiToken | None:
    """The active token with this secret, with its owner; None for anything else."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    return ApiToken.objects.active().select_related("user").filter(key_hash=ApiToken.hash(secret)).first()


def token_used(token: ApiToken) -> None:
    """Note the use, one write a minute at most rather than one per request."""
    now = timezone.now()
    if token.last_used_at is None or token.last_used_at < now - timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
