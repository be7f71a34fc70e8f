"""Ingest tokens: a credential that may write telemetry and nothing else.

The authentication class is set on the ingest endpoint only, so an ingest token opens no other
view; the permission lets a token through, or a person with the right to add samples.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from django.contrib.auth.models import AnonymousUser
from django.utils import timezone
from rest_framework import authentication, exceptions, permissions

from estate.access.scope import UserScope, scope_of
from estate.audit.context import Actor, actor_of
from estate.audit.services import access_denied_record
from estate.telemetry.models import TOKEN_PREFIX, IngestToken

KEYWORD = "Bearer"


class IngestTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer est_...`; the user stays anonymous, request.auth is the token."""

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1").split()
        if len(header) != 2 or header[0] != KEYWORD or not header[1].startswith(TOKEN_PREFIX):
            return None
        token = IngestToken.objects.filter(token_hash=IngestToken.hash(header[1]), revoked_at__isnull=True).first()
        if token is None:
            raise exceptions.AuthenticationFailed("Unknown or revoked ingest token.")
        now = timezone.now()
        # One write a minute at most, not one per batch.
        if token.last_used_at is None or token.last_used_at < now - timedelta(minutes=1):
            IngestToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return AnonymousUser(), token

    def authenticate_header(self, request):
        return KEYWORD


class CanIngestTelemetry(permissions.BasePermission):
    message = "Writing telemetry needs an ingest token or the permission to add samples."

    def has_permission(self, request, view):
        if isinstance(request.auth, IngestToken):
            return True
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm("telemetry.add_sample"))


def principal_of(request) -> str:
    """Who sent a batch, as the scope of its Idempotency-Key."""
    if isinstance(request.auth, IngestToken):
        return f"token:{request.auth.pk}"
    return f"user:{request.user.pk}"


def sender_scope(request) -> UserScope | None:
    """What the sender may write about: an ingest token's own scope, else its owner's (a person's
    session or personal token); None for the whole estate."""
    token = request.auth
    if not isinstance(token, IngestToken):
        return scope_of(request.user)
    if token.whole_estate:
        return None
    teams = frozenset(IngestToken.teams.through.objects.filter(ingesttoken=token).values_list("team_id", flat=True))
    systems = frozenset(
        IngestToken.systems.through.objects.filter(ingesttoken=token).values_list("system_id", flat=True)
    )
    return UserScope(teams, systems)


def sender_actor(request) -> Actor:
    """Who the audit trail names for what a batch did: "ingest-token:<name>", or the person."""
    actor = actor_of(request)
    if isinstance(request.auth, IngestToken):
        return dataclasses.replace(actor, name=f"ingest-token:{request.auth.name}"[:150])
    return actor


def record_token_refusal(request, reason: str) -> None:
    """An ACCESS_DENIED event for an ingest token refused (its scope); people are recorded by the
    audit middleware, which has nobody to name for a machine token."""
    if not isinstance(request.auth, IngestToken):
        return
    access_denied_record(request=request, reason=reason, actor=sender_actor(request))
