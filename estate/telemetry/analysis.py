"""What a roll's analysis gate measures: telemetry judges, the engine only asks.

A batch passes while, over the window since its new instances warmed up:
- each of the component's metric rules stays under its critical threshold, measured on the new
  instances and on the component as a whole, never on the instances being replaced (a roll that
  heals a sick component must not fail on the sickness it takes away);
- each PromQL condition keeps its bound (its worst value over the result's series);
- each dependent's error rate stays under the bound, or under what it was before the batch.
A check with no data passes (nothing says the batch is bad), except a PromQL condition, which a
person wrote on purpose: one that never answers fails the batch at the end of its bake.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import datetime

import requests
from django.conf import settings
from django.db.models import Avg, Q

from estate.inventory.choices import Health
from estate.inventory.models import Component
from estate.telemetry.health import AGGREGATES, rule_signal, rules_for
from estate.telemetry.models import MetricRule, Sample
from estate.telemetry.promql import promql_query

PASS, WARN, FAIL, NO_DATA = "pass", "warning", "fail", "no data"
MAX_DEPENDENTS = 50  # checked per look; a component with more dependents is judged by its first 50 (by name)


@dataclass(frozen=True)
class Check:
    source: str  # "rule", "promql" or "dependent"
    name: str
    value: float | None
    bound: str
    verdict: str
    note: str = ""

    def text(self) -> str:
        measured = "no data" if self.value is None else f"{self.value:.4g}"
        note = f" ({self.note})" if self.note else ""
        return f"{self.name} = {measured}, must be {self.bound}{note}"

    def as_dict(self) -> dict:
        return asdict(self)


def analyse(
    component: Component,
    *,
    since: datetime,
    until: datetime,
    before: datetime | None = None,
    replaced_instance_ids: list[int] = (),
    queries: list[dict] = (),
    max_dependent_error_rate: float | None = None,
) -> list[Check]:
    """Every check of the gate, measured over (since, until]; `before` starts the dependents' baseline."""
    checks = rule_checks(component, since, until, replaced_instance_ids)
    checks += [promql_check(component, query) for query in queries]
    bound = settings.OPERATIONS_DEFAULT_MAX_DEPENDENT_ERROR_RATE
    bound = bound if max_dependent_error_rate is None else max_dependent_error_rate
    checks += dependent_checks(component, since, until, before or since - (until - since), bound)
    return checks


def failed(checks: list[Check]) -> list[Check]:
    return [c for c in checks if c.verdict == FAIL]


def unanswered(checks: list[Check]) -> list[Check]:
    """PromQL conditions that gave no value: the batch cannot pass on them."""
    return [c for c in checks if c.source == "promql" and c.verdict == NO_DATA]


# --- the component's metric rules --------------------------------------------------------------


def component_rules(component: Component) -> list[MetricRule]:
    rules = MetricRule.objects.filter(
        Q(component=component) | Q(component__isnull=True, category=component.category, enabled=True)
    )
    own = [r for r in rules if r.component_id]
    defaults = [r for r in rules if not r.component_id]
    return rules_for(component.pk, component.category, {component.pk: own}, {component.category: defaults})


def rule_checks(component: Component, since, until, replaced: list[int]) -> list[Check]:
    rules = component_rules(component)
    if not rules:
        return []
    samples = Sample.objects.filter(component=component, ts__gt=since, ts__lte=until).exclude(
        instance_id__in=list(replaced)
    )
    # One query for every rule: each rule's aggregate over its own metric's samples.
    values = samples.aggregate(
        **{f"r{n}": AGGREGATES[rule.aggregation]("value", filter=Q(name=rule.metric)) for n, rule in enumerate(rules)}
    )
    return [_rule_check(rule, values[f"r{n}"]) for n, rule in enumerate(rules)]


def _rule_check(rule: MetricRule, value: float | None) -> Check:
    above = rule.comparison == "above"
    bound = f"{'≤' if above else '≥'} {rule.critical:g}{' ' + rule.unit if rule.unit else ''} (critical)"
    name = f"{rule.aggregation}({rule.metric})"
    if value is None:
        return Check("rule", name, None, bound, NO_DATA, "no samples from the new instances yet")
    signal = rule_signal(rule, value)
    if signal.state == Health.DOWN:
        return Check("rule", name, value, bound, FAIL)
    if signal.state == Health.DEGRADED:
        return Check("rule", name, value, bound, WARN, f"over the warning threshold {rule.warn:g}")
    return Check("rule", name, value, bound, PASS)


# --- PromQL conditions -------------------------------------------------------------------------


def expand(query: str, component: Component) -> str:
    """$component and $environment name the component being rolled, so one condition fits many."""
    return query.replace("$component", component.slug).replace("$environment", component.environment.slug)


def promql_check(component: Component, condition: dict) -> Check:
    query = expand(condition["query"], component)
    is_max = "max" in condition
    limit = condition["max"] if is_max else condition["min"]
    bound = f"{'≤' if is_max else '≥'} {limit:g}"
    if not settings.PROMETHEUS_URL:
        return Check("promql", query, None, bound, NO_DATA, "PROMETHEUS_URL is not configured")
    try:
        values = [v for v in promql_query(query) if not math.isnan(v)]
    except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
        return Check("promql", query, None, bound, NO_DATA, f"query failed: {exc}"[:200])
    if not values:
        return Check("promql", query, None, bound, NO_DATA, "the query returned no series")
    worst = max(values) if is_max else min(values)
    ok = worst <= limit if is_max else worst >= limit
    return Check("promql", query, worst, bound, PASS if ok else FAIL)


# --- the dependents' error rate ----------------------------------------------------------------


def dependent_checks(component: Component, since, until, before, bound: float) -> list[Check]:
    """Each dependent's mean error rate in the window against the bound and against its own baseline
    (the same length of time before the batch): a rate that was already that high is not the batch's doing."""
    dependents = dict(component.dependents.order_by("name").values_list("pk", "name")[:MAX_DEPENDENTS])
    if not dependents:
        return []
    rows = (
        Sample.objects.filter(
            component_id__in=dependents,
            name=settings.OPERATIONS_ERROR_RATE_METRIC,
            ts__gt=before,
            ts__lte=until,
        )
        .values("component_id")
        .annotate(during=Avg("value", filter=Q(ts__gt=since)), baseline=Avg("value", filter=Q(ts__lte=since)))
    )
    measured = {row["component_id"]: row for row in rows}
    return [_dependent_check(name, measured.get(pk), bound) for pk, name in dependents.items()]


def _dependent_check(name: str, row: dict | None, bound: float) -> Check:
    label = f"{settings.OPERATIONS_ERROR_RATE_METRIC} of {name} (depends on it)"
    during = row["during"] if row else None
    if during is None:
        return Check("dependent", label, None, f"≤ {bound:g}", NO_DATA)
    baseline = row["baseline"]
    note = "" if baseline is None else f"{baseline:.4g} before the batch"
    ok = during <= bound or (baseline is not None and during <= baseline)
    return Check("dependent", label, during, f"≤ {bound:g}", PASS if ok else FAIL, note)
