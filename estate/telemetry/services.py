from __future__ import annotations

from estate.telemetry.choices import DEFAULT_RULES
from estate.telemetry.models import MetricRule


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
