"""Where a team wants to hear about what happens to its components."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator, validate_email
from django.db import models

from estate.core.models import TimeStampedModel
from estate.core.outbound import url_refusal
from estate.core.secrets import secret_refusal
from estate.notifications.choices import Channel, NotificationEvent


def email_list(value: str) -> list[str]:
    return [e.strip() for e in (value or "").replace(";", ",").split(",") if e.strip()]


class NotificationRoute(TimeStampedModel):
    """Sends chosen events about a team's components (or every component) to a webhook or to e-mail.

    A window also notifies the routes of the teams whose components depend on what it patches.
    """

    name = models.CharField(max_length=100, unique=True)
    team = models.ForeignKey(
        "inventory.Team",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notification_routes",
        help_text="Whose components this route speaks for; empty for every component (an unlimited role only).",
    )
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.WEBHOOK)
    url = models.URLField(max_length=500, blank=True, help_text="Webhook: where the JSON is POSTed.")
    emails = models.CharField(max_length=1000, blank=True, help_text="E-mail: addresses, separated by commas.")
    secret_env = models.CharField(
        max_length=100,
        blank=True,
        validators=[RegexValidator(r"^ESTATE_[A-Z0-9_]+$", "A variable named ESTATE_..., e.g. ESTATE_SLACK_SECRET.")],
        help_text="Webhook: the ESTATE_* variable whose value signs the body (X-Estate-Signature).",
    )
    events = models.JSONField(default=list, help_text="The events sent: " + ", ".join(NotificationEvent.values))
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def scope_targets(self, m2m=None):
        return [(self.team_id, None)] if self.team_id else None

    def secret_scopes(self) -> set[str]:
        """The scopes whose secrets this route may sign with: its team's, or none but "*" ones."""
        return {f"team:{self.team.slug}"} if self.team_id else set()

    def clean(self) -> None:
        errors: dict[str, str] = {}
        self._clean_events(errors)
        if self.channel == Channel.WEBHOOK:
            refusal = url_refusal(self.url) if self.url else "A webhook route needs a URL."
            if refusal:
                errors["url"] = refusal
            if self.secret_env and (refusal := secret_refusal(self.secret_env, self.secret_scopes())):
                errors["secret_env"] = refusal
        else:
            self._clean_emails(errors)
        if errors:
            raise ValidationError(errors)

    def _clean_events(self, errors: dict) -> None:
        if not isinstance(self.events, list) or not self.events:
            errors["events"] = "Choose at least one event: " + ", ".join(NotificationEvent.values) + "."
            return
        unknown = [e for e in self.events if e not in NotificationEvent.values]
        if unknown:
            errors["events"] = f"Unknown event {unknown[0]!r}; known: {', '.join(NotificationEvent.values)}."
        else:
            self.events = sorted(set(self.events))

    def _clean_emails(self, errors: dict) -> None:
        addresses = email_list(self.emails)
        if not addresses:
            errors["emails"] = "An e-mail route needs at least one address."
            return
        for address in addresses:
            try:
                validate_email(address)
            except ValidationError:
                errors["emails"] = f"{address!r} is not an e-mail address."
                return


class OpenCriticalFinding(models.Model):
    """A critical finding seen at the last look (notifications/findings.py); one not here yet is new.

    Keyed by the finding's kind and the row it is about (a component, or an instance of it): a second
    tainted instance of a component is a new finding. A finding that clears loses its row, so coming
    back makes it new again. No foreign keys: a deleted row's finding is simply gone at the next look.
    """

    id = models.BigAutoField(primary_key=True)
    kind = models.CharField(max_length=100)
    object_id = models.BigIntegerField()
    component_id = models.BigIntegerField()
    first_seen_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "object_id"], name="open_critical_finding_unique")]

    def __str__(self) -> str:
        return f"{self.kind} #{self.object_id}"
