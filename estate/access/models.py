"""Who may do what: personal API tokens, and the teams or systems a person's role is limited to."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

TOKEN_PREFIX = "estp_"  # noqa: S105 - a public marker; telemetry ingest tokens use "est_"


class TokenScope(models.TextChoices):
    READ = "read", "Read"
    WRITE = "write", "Read and write"
    INGEST = "ingest", "Telemetry ingest"
    FEED = "feed", "Calendar feed"


class ApiTokenQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True, expires_at__gt=timezone.now(), user__is_active=True)


class ApiToken(models.Model):
    """A personal token: acts as its owner, never beyond its scope. Only its SHA-256 is kept.

    The secret has 256 random bits, so a fast hash is as safe as a slow one and lets every
    request find its token with one indexed lookup.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    scope = models.CharField(max_length=10, choices=TokenScope.choices)
    prefix = models.CharField(max_length=12, editable=False, help_text="The start of the secret, to recognise it.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "API token"
        constraints = [
            models.UniqueConstraint(
                fields=["user", "name"],
                condition=models.Q(revoked_at__isnull=True),
                name="access_token_name_unique_while_active",
                violation_error_message="You already have an active token with this name.",
            ),
            models.CheckConstraint(condition=models.Q(scope__in=TokenScope.values), name="access_token_scope_known"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def clean(self):
        if self._state.adding and self.expires_at:
            now = timezone.now()
            longest = timedelta(days=settings.API_TOKEN_MAX_DAYS)
            if self.expires_at <= now:
                raise ValidationError({"expires_at": "The expiry must be in the future."})
            if self.expires_at > now + longest:
                raise ValidationError(
                    {"expires_at": f"A token may live {settings.API_TOKEN_MAX_DAYS} days at most; renew it then."}
                )

    @staticmethod
    def hash(secret: str) -> str:
        return hashlib.sha256(secret.encode()).hexdigest()

    def issue(self) -> str:
        """Give the token a new secret and return it; only its hash and prefix are kept."""
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        self.prefix = secret[: len(TOKEN_PREFIX) + 6]
        self.key_hash = self.hash(secret)
        return secret

    @property
    def status(self) -> str:
        if self.revoked_at:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "active"

    def scope_owner_id(self) -> int:
        return self.user_id  # personal: who may touch it is decided by ownership, not by estate scope


class AccessScope(models.Model):
    """Limits a person's role to some teams' and systems' components.

    No row means the whole estate; a row is a limit, and one with no team and no system covers
    nothing. The teams and systems it names cannot be deleted while it names them (PROTECT on the
    link rows, and access.scope.check_delete for the message).
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_scope")
    teams = models.ManyToManyField("inventory.Team", blank=True, related_name="+", through="AccessScopeTeam")
    systems = models.ManyToManyField("inventory.System", blank=True, related_name="+", through="AccessScopeSystem")

    class Meta:
        verbose_name = "access scope"

    def __str__(self) -> str:
        return f"scope of {self.user}"


class AccessScopeTeam(models.Model):
    """The link of a scope to a team; the table Django made for the plain many-to-many, kept."""

    accessscope = models.ForeignKey(AccessScope, on_delete=models.CASCADE)
    team = models.ForeignKey("inventory.Team", on_delete=models.PROTECT, related_name="+")

    class Meta:
        db_table = "access_accessscope_teams"
        unique_together = [("accessscope", "team")]
        verbose_name = "team limiting a person's access"

    def __str__(self) -> str:
        return f"team {self.team} limits the access of {self.accessscope.user}"


class AccessScopeSystem(models.Model):
    """The link of a scope to a system; the table Django made for the plain many-to-many, kept."""

    accessscope = models.ForeignKey(AccessScope, on_delete=models.CASCADE)
    system = models.ForeignKey("inventory.System", on_delete=models.PROTECT, related_name="+")

    class Meta:
        db_table = "access_accessscope_systems"
        unique_together = [("accessscope", "system")]
        verbose_name = "system limiting a person's access"

    def __str__(self) -> str:
        return f"system {self.system} limits the access of {self.accessscope.user}"
