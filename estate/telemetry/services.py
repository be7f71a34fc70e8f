from __future__ import annotations

from django.db import transaction

from estate.core.services import validated_save
from estate.telemetry.choices import DEFAULT_RULES
from estate.telemetry.models import IngestToken, MetricRule


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
    *, name: str, whole_estate: bool = False, teams=(), systems=(), created_by=None
) -> tuple[IngestToken, str]:
    """Make an ingest token with an explicit scope and return it with its secret (shown once).

    The scope is never implied: the whole estate, or the teams' and systems' components.
    """
    IngestToken.check_scope(whole_estate=whole_estate, teams=list(teams), systems=list(systems))
    token = IngestToken(name=name, whole_estate=whole_estate, created_by=created_by)
    raw = token.set_new_secret()
    with transaction.atomic():
        validated_save(token, m2m={"teams": list(teams), "systems": list(systems)})
    return token, raw
