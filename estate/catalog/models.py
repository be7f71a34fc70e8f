from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class CatalogApply(models.Model):
    """One applied catalog: who, which file, what it changed; under its Idempotency-Key, if given,
    so a retried request applies nothing twice and answers what the first one did."""

    id = models.BigAutoField(primary_key=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(max_length=200)
    digest = models.CharField(max_length=64, help_text="SHA-256 of the catalog's files.")
    prune = models.BooleanField(default=False)
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)
    summary = models.JSONField(default=dict)
    result = models.JSONField(default=dict)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="catalog_apply_unique_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.source} {self.created_at:%Y-%m-%d %H:%M}"
