from django import template

from estate.access import scope

register = template.Library()


@register.filter
def may_change(user, obj) -> bool:
    """Whether the person's scope covers obj (model permissions are checked with `perms` beside it)."""
    return scope.allows(user, obj)
