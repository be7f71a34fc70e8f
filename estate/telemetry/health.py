"""Health evaluation of the whole estate, set-based.

The number of queries depends on the number of distinct metric rules (metric, aggregation,
window) and on how many rows changed (one UPDATE per thousand), never on the number of
components. Components in maintenance belong to the patching app: they are left alone, and
their instances' flips are not recorded as alarms.

Given `component_ids`, the same queries are restricted to those components and their instances
(the prompt evaluation after an ingest, reevaluation.py): still a fixed number of queries.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Avg, Case, CharField, Count, F, Max, Min, Q, QuerySet, Sum, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from estate.inventory.choices import LIVE_INSTANCE_STATES, Health
from estate.inventory.models import Component, Instance
from estate.telemetry.choices import HEALTH_SEVERITY, Aggregation, Comparison, HeartbeatState
from estate.telemetry.db import SecondsBefore, insert_rows, update_from_values
from estate.telemetry.models import ComponentTelemetry, HealthChange, MetricRule, Sample
from estate.telemetry.promql import promql_health

log = logging.getLogger(__name__)

AGGREGATES = {Aggregation.AVG: Avg, Aggregation.MAX: Max, Aggregation.MIN: Min, Aggregation.SUM: Sum,
              Aggregation.COUNT: Count}  # fmt: skip

INSTANCE_REASONS = {
    "unconfigured": "no heartbeat period configured on the component",
    "never": "never sent a heartbeat",
    "fresh": "heartbeat fresh",
    "late": "heartbeat late (inside the grace time)",
    "down": "no heartbeat within the period and grace",
}


WITHIN = "within thresholds"
CHANGE_COLUMNS = ("component_id", "instance_id", "at", "from_state", "to_state", "reason")


@dataclass
class Evaluation:
    components_changed: int = 0
    instances_changed: int = 0
    # Rows of CHANGE_COLUMNS, inserted with COPY: a flip of the whole estate is tens of thousands.
    changes: list[tuple] = field(default_factory=list)


@dataclass(frozen=True)
class Signal:
    state: str
    reason: str


HEALTHY_RULE = Signal(Health.HEALTHY, WITHIN)


def evaluate_estate(*, now: datetime | None = None, component_ids: Collection[int] | None = None) -> Evaluation:
    """Evaluate every component (or only these) and its live instances; write each flip's HealthChange."""
    now = now or timezone.now()
    ids = None if component_ids is None else sorted(set(component_ids))
    result = Evaluation()
    with transaction.atomic():
        _ensure_telemetry_rows(ids)
        _evaluate_instances(now, result, ids)
        _evaluate_components(now, result, ids)
        insert_rows(HealthChange, CHANGE_COLUMNS, result.changes)
    return result


def _only(qs: QuerySet, lookup: str, ids: list[int] | None) -> QuerySet:
    """The queryset, restricted to the components being evaluated when that is not all of them."""
    return qs if ids is None else qs.filter(**{f"{lookup}__in": ids})


def _ensure_telemetry_rows(ids: list[int] | None) -> None:
    components = _only(Component.objects.filter(telemetry__isnull=True), "pk", ids)
    missing = list(components.values_list("pk", flat=True))
    ComponentTelemetry.objects.bulk_create(
        [ComponentTelemetry(component_id=pk) for pk in missing], ignore_conflicts=True, batch_size=2000
    )


# --- instances ---------------------------------------------------------------------------------


def _instance_state_expressions(now: datetime) -> dict:
    fresh = Q(last_seen_at__gte=SecondsBefore(now, F("period")))
    late = Q(last_seen_at__gte=SecondsBefore(now, F("period") + F("grace")))
    cases = [
        (Q(period__isnull=True), Health.UNKNOWN, "unconfigured"),
        (Q(last_seen_at__isnull=True), Health.UNKNOWN, "never"),
        (fresh, Health.HEALTHY, "fresh"),
        (late, Health.DEGRADED, "late"),
    ]
    return {
        "new_health": Case(
            *[When(q, then=Value(s)) for q, s, _ in cases], default=Value(Health.DOWN), output_field=CharField()
        ),  # fmt: skip
        "new_reason": Case(
            *[When(q, then=Value(INSTANCE_REASONS[r])) for q, _, r in cases],
            default=Value(INSTANCE_REASONS["down"]),
            output_field=CharField(),
        ),  # fmt: skip
    }


def _evaluate_instances(now: datetime, result: Evaluation, ids: list[int] | None) -> None:
    """One SELECT of the live instances whose state or reason changes, then UPDATE ... FROM VALUES."""
    changed = (
        _only(Instance.objects.filter(state__in=LIVE_INSTANCE_STATES), "component_id", ids)
        .annotate(
            period=F("component__heartbeat_period_seconds"),
            grace=Coalesce(F("component__telemetry__grace_seconds"), Value(settings.TELEMETRY_DEFAULT_GRACE_SECONDS)),
        )
        .annotate(**_instance_state_expressions(now))
        .filter(~Q(health=F("new_health")) | ~Q(health_reason=F("new_reason")))
        .values_list("pk", "component_id", "health", "new_health", "new_reason", "component__health")
    )
    rows = list(changed)
    if not rows:
        return
    table = Instance._meta.db_table
    done = set(
        update_from_values(
            table,
            ("id", "old", "health", "reason"),
            ("bigint", "text", "text", "text"),
            [(pk, old, new, reason) for pk, _, old, new, reason, _ in rows],
            "health = v.health, health_reason = v.reason",
            f"{table}.health = v.old",
            returning=True,
        )  # fmt: skip
    )
    for pk, component_id, old, new, reason, component_health in rows:
        if pk in done and old != new and component_health != Health.MAINTENANCE:
            result.changes.append((component_id, pk, now, old, new, reason))
            result.instances_changed += 1


# --- components --------------------------------------------------------------------------------


def _evaluate_components(now: datetime, result: Evaluation, ids: list[int] | None) -> None:
    components = list(
        _only(Component.objects.exclude(health=Health.MAINTENANCE), "pk", ids).values_list(
            "pk",
            "category",
            "health",
            "health_reason",
            "heartbeat_period_seconds",
            "telemetry__grace_seconds",
            "telemetry__last_heartbeat_at",
            "telemetry__heartbeat_state",
            "telemetry__promql",
        )  # fmt: skip
    )
    instance_counts = _instance_counts(ids)
    rule_signals = _rule_signals(now, {row[0]: row[1] for row in components}, ids)
    new_states, heartbeat_states, promql_values = {}, {}, {}
    for pk, _category, health, reason, period, grace, last_heartbeat, hb_state, promql in components:
        grace = settings.TELEMETRY_DEFAULT_GRACE_SECONDS if grace is None else grace
        counts = instance_counts.get(pk)
        seen = [t for t in (last_heartbeat, counts and counts["last_seen"]) if t]
        heartbeat = _heartbeat_state(now, period, grace, max(seen) if seen else None)
        if heartbeat != hb_state:
            heartbeat_states[pk] = heartbeat
        if promql:
            signal, promql_values[pk] = _promql_signal(promql)
        else:
            signal = _heartbeat_signal(heartbeat, counts)
        state = _combine([signal, *rule_signals.get(pk, [])])
        if (state.state, state.reason) != (health, reason):
            new_states[pk] = (health, state)
    _write_components(now, new_states, result)
    _write_telemetry(now, heartbeat_states, promql_values)


def _instance_counts(ids: list[int] | None) -> dict[int, dict[str, int]]:
    rows = (
        _only(Instance.objects.filter(state__in=LIVE_INSTANCE_STATES), "component_id", ids)
        .values("component_id")
        .annotate(
            total=Count("pk"),
            last_seen=Max("last_seen_at"),
            **{state: Count("pk", filter=Q(health=state)) for state in (Health.DOWN, Health.DEGRADED, Health.UNKNOWN)},
        )
    )
    return {row["component_id"]: row for row in rows}


def _heartbeat_state(now: datetime, period: int | None, grace: int, last: datetime | None) -> str:
    if not period:
        return HeartbeatState.NOT_CONFIGURED
    if last is None:
        return HeartbeatState.NEVER
    age = (now - last).total_seconds()
    if age <= period:
        return HeartbeatState.FRESH
    return HeartbeatState.LATE if age <= period + grace else HeartbeatState.DOWN


def _heartbeat_signal(heartbeat: str, counts: dict | None) -> Signal:
    if heartbeat == HeartbeatState.NOT_CONFIGURED:
        return Signal(Health.UNKNOWN, "no heartbeat configured")
    if counts and counts["total"]:
        return _instances_signal(counts)
    return {
        HeartbeatState.NEVER: Signal(Health.UNKNOWN, "never sent a heartbeat"),
        HeartbeatState.FRESH: Signal(Health.HEALTHY, "heartbeat fresh"),
        HeartbeatState.LATE: Signal(Health.DEGRADED, "heartbeat late (inside the grace time)"),
        HeartbeatState.DOWN: Signal(Health.DOWN, "no heartbeat within the period and grace"),
    }[heartbeat]


def _instances_signal(counts: dict) -> Signal:
    total, down, late, never = counts["total"], counts[Health.DOWN], counts[Health.DEGRADED], counts[Health.UNKNOWN]
    if never == total:
        return Signal(
            Health.UNKNOWN, f"none of {total} instances has reported" if total > 1 else "its instance never reported"
        )
    if down == total:
        return Signal(Health.DOWN, f"all {total} instances down" if total > 1 else "its instance is down")
    if down + never == total:
        return Signal(Health.DOWN, f"{down} of {total} instances down, the others never reported")
    problems = [f"{n} of {total} instances {word}" for n, word in ((down, "down"), (late, "late"), (never, "silent"))
                if n]  # fmt: skip
    if problems:
        return Signal(Health.DEGRADED, ", ".join(problems))
    return Signal(Health.HEALTHY, f"all {total} instances reporting" if total > 1 else "its instance is reporting")


def _promql_signal(expression: str) -> tuple[Signal, float | None]:
    state, reason, value = promql_health(expression)
    return Signal(state, reason), value


def _combine(signals: list[Signal]) -> Signal:
    worst = min(signals, key=lambda s: HEALTH_SEVERITY[s.state]).state
    reasons = [s.reason for s in signals if s.state == worst and s.reason != WITHIN]
    within = sum(1 for s in signals if s.reason == WITHIN)
    if worst == Health.HEALTHY and within:
        reasons.append(f"{within} metric rule{'s' if within > 1 else ''} within thresholds")
    return Signal(worst, "; ".join(reasons)[:300])


# --- metric rules ------------------------------------------------------------------------------


def effective_rules() -> tuple[dict[int, list[MetricRule]], dict[str, list[MetricRule]]]:
    """Rules per component id (disabled ones too) and enabled defaults per category: one query."""
    own, defaults = defaultdict(list), defaultdict(list)
    for rule in MetricRule.objects.filter(Q(enabled=True) | Q(component__isnull=False)):
        if rule.component_id:
            own[rule.component_id].append(rule)
        else:
            defaults[rule.category].append(rule)
    return own, defaults


def rules_for(component_id: int, category: str, own: dict, defaults: dict) -> list[MetricRule]:
    """A component's enabled rules, and its category's defaults for every metric it has no rule for.

    A disabled rule of the component's own switches the category's default for that metric off.
    """
    mine = own.get(component_id, [])
    metrics = {r.metric for r in mine}
    return [r for r in mine if r.enabled] + [r for r in defaults.get(category, []) if r.metric not in metrics]


def _rule_signals(now: datetime, categories: dict[int, str], ids: list[int] | None) -> dict[int, list[Signal]]:
    """Breaches per component: one aggregate query per distinct (metric, aggregation, window)."""
    own, defaults = effective_rules()
    if not own and not defaults:
        return {}
    values = {key: _aggregate(key, now, ids) for key in _aggregate_keys(own, defaults, categories, ids)}
    signals: dict[int, list[Signal]] = defaultdict(list)
    # Components without rules of their own share their category's list: built once per category.
    by_category = {category: rules_for(0, category, {}, defaults) for category in defaults}
    for pk in _ids_with_data(values):
        category = categories.get(pk)
        if category is None:  # in maintenance
            continue
        rules = rules_for(pk, category, own, defaults) if pk in own else by_category.get(category, [])
        for rule in rules:
            value = values[(rule.metric, rule.aggregation, rule.window_seconds)].get(pk)
            if value is not None:
                signals[pk].append(rule_signal(rule, value))
    return signals


def _aggregate_keys(own: dict, defaults: dict, categories: dict[int, str], ids: list[int] | None) -> set[tuple]:
    """The distinct (metric, aggregation, window) of the enabled rules; for a few components, only of
    theirs and their categories' (one component touched by an ingest needs two or three aggregates)."""
    if ids is not None:
        own = {pk: own[pk] for pk in categories if pk in own}
        defaults = {c: defaults[c] for c in set(categories.values()) if c in defaults}
    rules = [r for group in (*own.values(), *defaults.values()) for r in group if r.enabled]
    return {(r.metric, r.aggregation, r.window_seconds) for r in rules}


def _ids_with_data(values: dict) -> set[int]:
    return {pk for per_component in values.values() for pk in per_component}


def _aggregate(key: tuple, now: datetime, ids: list[int] | None) -> dict[int, float]:
    metric, aggregation, window = key
    samples = Sample.objects.filter(name=metric, ts__gt=now - timedelta(seconds=window), ts__lte=now)
    rows = (
        _only(samples, "component_id", ids)
        .values("component_id")
        .annotate(v=AGGREGATES[aggregation]("value"))
        .values_list("component_id", "v")
    )
    return dict(rows)


def rule_signal(rule: MetricRule, value: float) -> Signal:
    above = rule.comparison == Comparison.ABOVE
    if above:
        level = "critical" if value > rule.critical else "warning" if value > rule.warn else None
    else:
        level = "critical" if value < rule.critical else "warning" if value < rule.warn else None
    if level is None:
        return HEALTHY_RULE
    threshold = rule.critical if level == "critical" else rule.warn
    unit = f" {rule.unit}" if rule.unit else ""
    text = f"{rule.aggregation}({rule.metric}) {value:.4g}{unit} {'>' if above else '<'} {threshold:g} ({level})"
    return Signal(Health.DOWN if level == "critical" else Health.DEGRADED, text)


# --- writing -----------------------------------------------------------------------------------


def _write_components(now: datetime, new_states: dict, result: Evaluation) -> None:
    if not new_states:
        return
    adapt = connection.ops.adapt_datetimefield_value
    table = Component._meta.db_table
    rows = [(pk, old, s.state, s.reason, adapt(now) if s.state != old else None) for pk, (old, s) in new_states.items()]
    # health = v.old: a component the patching app put in maintenance meanwhile is not overwritten.
    done = set(
        update_from_values(
            table,
            ("id", "old", "health", "reason", "changed_at"),
            ("bigint", "text", "text", "text", "timestamptz"),
            rows,
            "health = v.health, health_reason = v.reason, "
            f"health_changed_at = COALESCE(v.changed_at, {table}.health_changed_at)",
            f"{table}.health = v.old",
            returning=True,
        )  # fmt: skip
    )
    for pk, (old, signal) in new_states.items():
        if pk in done and old != signal.state:
            result.changes.append((pk, None, now, old, signal.state, signal.reason))
            result.components_changed += 1


def _write_telemetry(now: datetime, heartbeat_states: dict, promql_values: dict) -> None:
    by_state = defaultdict(list)
    for pk, state in heartbeat_states.items():
        by_state[state].append(pk)
    for state, pks in by_state.items():
        ComponentTelemetry.objects.filter(component_id__in=pks).update(heartbeat_state=state)
    if promql_values:
        at = connection.ops.adapt_datetimefield_value(now)
        update_from_values(
            ComponentTelemetry._meta.db_table, ("component_id", "value", "at"), ("bigint", "float8", "timestamptz"),
            [(pk, value, at) for pk, value in promql_values.items()], "promql_value = v.value, evaluated_at = v.at",
        )  # fmt: skip
