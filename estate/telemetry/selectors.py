from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Avg, Case, Count, IntegerField, Q, Value, When
from django.urls import reverse
from django.utils import timezone

from estate.inventory.choices import LIVE_INSTANCE_STATES, Health, Mode
from estate.inventory.models import Component, Instance
from estate.telemetry.choices import HeartbeatState
from estate.telemetry.db import BucketIndex
from estate.telemetry.health import rules_for
from estate.telemetry.models import ComponentTelemetry, HealthChange, MetricRule, Rollup, Sample
from estate.telemetry.retention import BUCKET

HEALTH_ORDER = [Health.DOWN, Health.DEGRADED, Health.UNKNOWN, Health.MAINTENANCE, Health.HEALTHY]


def health_counts() -> list[dict]:
    """Components per health state, worst first, each with the link to the filtered inventory."""
    counts = dict(Component.objects.values_list("health").annotate(n=Count("pk")).values_list("health", "n"))
    base = reverse("component_list")
    return [
        {"state": state, "label": Health(state).label, "count": counts.get(state, 0), "url": f"{base}?health={state}"}
        for state in HEALTH_ORDER
    ]


def component_rules(component: Component) -> list[MetricRule]:
    own = {component.pk: list(MetricRule.objects.filter(component=component))}
    defaults = {component.category: list(MetricRule.objects.filter(category=component.category, enabled=True))}
    return rules_for(component.pk, component.category, own, defaults)


def _worst_first():
    return Case(*[When(health=s, then=Value(i)) for i, s in enumerate(HEALTH_ORDER)], output_field=IntegerField())


def health_panel_context(request, component: Component) -> dict:
    """Everything the component page's health panel shows: a fixed number of queries."""
    telemetry = ComponentTelemetry.objects.filter(component=component).first()
    live = Instance.objects.filter(component=component, state__in=LIVE_INSTANCE_STATES)
    instances = list(live.annotate(rank=_worst_first()).order_by("rank", "external_id")[:50])
    counts = live.aggregate(total=Count("pk"), reporting=Count("pk", filter=~_silent()))
    rules = component_rules(component)
    return {
        "component": component,
        "telemetry": telemetry,
        "grace": telemetry.effective_grace_seconds if telemetry else ComponentTelemetry().effective_grace_seconds,
        "changes": list(HealthChange.objects.filter(component=component).select_related("instance")[:20]),
        "instances": instances,
        "instance_total": counts["total"],
        "rules": rules,
        "readiness": _readiness(component, telemetry, rules, counts) if component.mode == Mode.IMMUTABLE else None,
        "chart": metric_series(component, rules),
    }


def _silent() -> Q:
    return Q(health__in=[Health.UNKNOWN, Health.DOWN])


def _readiness(component: Component, telemetry, rules: list, counts: dict) -> list[dict]:
    arriving = bool(telemetry) and telemetry.heartbeat_state in (HeartbeatState.FRESH, HeartbeatState.LATE)
    all_reporting = counts["total"] > 0 and counts["reporting"] == counts["total"]
    return [
        {
            "ok": arriving,
            "label": "Heartbeats arrive within the grace"
            if component.heartbeat_period_seconds
            else "A heartbeat period is configured",
        },  # fmt: skip
        {"ok": bool(rules), "label": f"At least one metric rule ({len(rules)})"},
        {"ok": all_reporting, "label": f"All instances reporting ({counts['reporting']} of {counts['total']})"},
    ]


def metric_series(component: Component, rules: list[MetricRule], *, now: datetime | None = None) -> list[dict]:
    """Each metric of the last 24 hours in 5-minute averages, with its rule's thresholds: two queries."""
    now = now or timezone.now()
    since = now - timedelta(hours=24)
    points: dict[str, dict[int, float]] = {}
    raw = (
        Sample.objects.filter(component=component, ts__gte=since, ts__lte=now)
        .annotate(b=BucketIndex("ts", BUCKET))
        .values("name", "b")
        .annotate(v=Avg("value"))
    )
    for row in raw:
        points.setdefault(row["name"], {})[row["b"]] = row["v"]
    # Older buckets whose raw samples were purged come from the rollups.
    for name, bucket, value in Rollup.objects.filter(component=component, bucket__gte=since).values_list(
        "name", "bucket", "avg"
    ):
        points.setdefault(name, {}).setdefault(int(bucket.timestamp()) // BUCKET, value)
    by_metric = {rule.metric: rule for rule in rules}
    series = []
    for name in sorted(points):
        rule = by_metric.get(name)
        series.append(
            {
                "metric": name,
                "unit": rule.unit if rule else "",
                "points": [[b * BUCKET * 1000, round(v, 6)] for b, v in sorted(points[name].items())],
                "warn": rule.warn if rule else None,
                "critical": rule.critical if rule else None,
                "since": int(since.timestamp() * 1000),
                "until": int(now.timestamp() * 1000),
            }
        )
    return series
