"""`Authorization: Bearer estp_...` for scripts: the token acts as its owner, within its scope.

The scope is judged here, where every API view passes, rather than in each view's permission
classes (which views replace): read tokens may only read, write tokens do what the owner's role
allows, ingest tokens only reach views that accept them, feed tokens open no API view at all.
"""

from __future__ import annotations

from rest_framework import authentication, exceptions
from rest_framework.permissions import SAFE_METHODS

from estate.access import roles, services
from estate.access.models import TOKEN_PREFIX, TokenScope
from estate.audit.middleware import DENIED_TOKEN

KEYWORDS = ("Bearer", "Token")


def scope_refusal(scope: str, method: str, view) -> str:
    """Why a token of this scope may not make this request ("" when it may)."""
    accepted = getattr(view, "token_scopes", None)  # views that take special tokens list them
    if scope == TokenScope.FEED:
        return "A calendar feed token only opens its calendar feed."
    if scope == TokenScope.INGEST and (accepted is None or scope not in accepted):
        return "An ingest token may only send telemetry."
    if scope == TokenScope.READ and method not in SAFE_METHODS:
        return "This token is read-only."
    if accepted is not None and scope not in accepted:
        return f"This endpoint does not accept {TokenScope(scope).label.lower()} tokens."
    return ""


class ApiTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        parts = authentication.get_authorization_header(request).split()
        if len(parts) != 2 or parts[0].decode("latin-1") not in KEYWORDS:
            return None
        secret = parts[1].decode("latin-1")
        if not secret.startswith(TOKEN_PREFIX):
            return None  # another scheme's token (telemetry ingest tokens say est_)
        token = services.token_for_secret(secret)
        if token is None:
            raise exceptions.AuthenticationFailed("Unknown, expired or revoked API token.")
        view = (request.parser_context or {}).get("view")
        if reason := scope_refusal(token.scope, request.method, view) or _role_refusal(token.user):
            setattr(request._request, DENIED_TOKEN, token)  # for the audit trail: who was refused
            raise exceptions.PermissionDenied(reason)
        services.token_used(token)
        return token.user, token

    def authenticate_header(self, request):
        return KEYWORDS[0]


class SessionAuthentication(authentication.SessionAuthentication):
    """DRF's (CSRF included), refusing a logged-in person who holds no role, as the pages do."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is not None and (reason := _role_refusal(result[0])):
            raise exceptions.PermissionDenied(reason)
        return result


def _role_refusal(user) -> str:
    return "" if roles.has_role(user) else roles.NO_ROLE
