"""Telling the owners: queue one outbox message per route that wants the event, in the caller's transaction."""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings

from estate.inventory.models import Component
from estate.notifications import handlers
from estate.notifications.choices import Channel
from estate.notifications.models import NotificationRoute, email_list
from estate.outbox.services import outbox_send


def absolute(path: str) -> str:
    """A link people can open from a chat or a mail: PUBLIC_URL and the path."""
    return f"{settings.PUBLIC_URL}{path}"


def routes_for(event: str, team_ids: set[int]) -> list[NotificationRoute]:
    """Enabled routes that want `event` and speak for one of the teams (or for every component)."""
    routes = NotificationRoute.objects.filter(enabled=True).select_related("team")
    # Routes are few and `events` is a JSON list (no portable containment lookup on SQLite).
    return [r for r in routes if event in r.events and (r.team_id is None or r.team_id in team_ids)]


def notify(
    *,
    event: str,
    key: str,
    subject: str,
    text: str,
    component_ids: Iterable[int],
    link: str = "",
    include_dependents: bool = False,
) -> int:
    """Queue the event for every route it concerns; `key` makes a repeated call queue nothing twice.

    With include_dependents, the teams owning components that depend on these hear of it too (a
    window on a database tells the owners of the services that use it).
    """
    ids = set(component_ids)
    if include_dependents:
        ids |= set(Component.objects.filter(depends_on__in=ids).values_list("pk", flat=True))
    team_ids = set(Component.objects.filter(pk__in=ids).exclude(team=None).values_list("team_id", flat=True))
    routes = routes_for(event, team_ids)
    for route in routes:
        kind, payload = _message(route, event, subject, text, link)
        outbox_send(kind=kind, payload=payload, key=f"{key}:route{route.pk}", summary=f"{route.name}: {subject}")
    return len(routes)


def _message(route: NotificationRoute, event: str, subject: str, text: str, link: str) -> tuple[str, dict]:
    if route.channel == Channel.EMAIL:
        body = f"{text}\n\n{link}" if link else text
        return handlers.EMAIL, {"subject": subject, "text": body, "to": email_list(route.emails)}
    slack_text = f"*{subject}*\n{text}" + (f"\n<{link}>" if link else "")
    body = {"text": slack_text, "event": event, "subject": subject, "details": text, "link": link}
    scopes = sorted(route.secret_scopes())
    return handlers.WEBHOOK, {"url": route.url, "secret_env": route.secret_env, "scopes": scopes, "body": body}
