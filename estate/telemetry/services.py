from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from estate.core.services import validated_save
from estate.inventory.choices import Health
from estate.inventory.models import Component
from estate.telemetry.choices import DEFAULT_RULES
from estate.telemetry.models import HealthChange, IngestToken, MetricRule


def ensure_default_rules() -> int:
    """Create the default rule of each category that is missing (migration 0002 creates them first)."""
    existing = set(MetricRule.objects.filter(component=None).values_list("category", "metric"))
    missing = [
        MetricRule(
            category=category,
            metric=metric,
            aggregation=aggregation,
            window_seconds=window,
            comparison=comparison,
            warn=warn,
            critical=critical,
            unit=unit,
        )  # fmt: skip
        for category, rules in DEFAULT_RULES.items()
        for metric, aggregation, window, comparison, warn, critical, unit in rules
        if (category, metric) not in existing
    ]
    MetricRule.objects.bulk_create(missing)
    return len(missing)


def ingest_token_create(
    *, name: str, whole_estate: bool = False, teams=(), systems=(), created_by=None, mapping=None
) -> tuple[IngestToken, str]:
    """Make an ingest token with an explicit scope and return it with its secret (shown once).

    The scope is never implied: the whole estate, or the teams' and systems' components.
    """
    IngestToken.check_scope(whole_estate=whole_estate, teams=list(teams), systems=list(systems))
    token = IngestToken(name=name, whole_estate=whole_estate, created_by=created_by, mapping=mapping or {})
    raw = token.set_new_secret()
    with transaction.atomic():
        validated_save(token, m2m={"teams": list(teams), "systems": list(systems)})
    return token, raw


# --- health: telemetry is its one owner; other apps call these instead of writing the columns --


def _flip(components: QuerySet, to_state: str, reason: str) -> int:
    """Set the health of these components and write one HealthChange per component that flipped."""
    now, reason = timezone.now(), reason[:300]
    with transaction.atomic():
        flipping = list(components.select_for_update().exclude(health=to_state).values_list("pk", "health"))
        Component.objects.filter(pk__in=[pk for pk, _ in flipping]).update(
            health=to_state, health_reason=reason, health_changed_at=now
        )
        HealthChange.objects.bulk_create(
            HealthChange(component_id=pk, at=now, from_state=old, to_state=to_state, reason=reason)
            for pk, old in flipping
        )
    return len(flipping)


def maintenance_begin(*, component_ids: Iterable[int], reason: str) -> int:
    """These components enter maintenance (a patch window started); the count that flipped."""
    return _flip(Component.objects.filter(pk__in=list(component_ids)), Health.MAINTENANCE, reason)


def maintenance_end(*, component_ids: Iterable[int], reason: str) -> int:
    """These components leave maintenance for unknown, until the next evaluation reads their telemetry."""
    components = Component.objects.filter(pk__in=list(component_ids), health=Health.MAINTENANCE)
    return _flip(components, Health.UNKNOWN, reason)
