from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from estate.access import roles
from estate.access.models import ApiToken
from estate.access.scope import scope_of

# Managing other people's tokens is part of the admin role (users and tokens), over the whole estate.
MANAGE_TOKENS = "access.change_apitoken"


def manages_tokens(user) -> bool:
    """Whether `user` sees and may revoke other people's tokens: an admin with no scope limit."""
    return user is not None and user.has_perm(MANAGE_TOKENS) and scope_of(user) is None


def tokens_visible_to(user) -> QuerySet[ApiToken]:
    tokens = ApiToken.objects.select_related("user").order_by("-created_at", "-pk")
    if user is None:
        return tokens.none()
    return tokens if manages_tokens(user) else tokens.filter(user=user)


def unlimited_admin_names(limit: int = 5) -> list[str]:
    """Who can set a person's access: active superusers and admins with no scope limit."""
    people = get_user_model().objects.filter(is_active=True, access_scope__isnull=True)
    people = people.filter(Q(is_superuser=True) | Q(groups__name=roles.ADMIN)).distinct()
    return list(people.order_by("username").values_list("username", flat=True)[:limit])
