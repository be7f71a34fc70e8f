"""What a gate measures. Telemetry judges (health, its analysis helpers for PromQL and the dependents'
error rate); the executor reports replication lag. Each look returns, per condition, the measured value,
the bound and whether it holds: the console shows them while the gate waits and after it gave up."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from estate.inventory.choices import LIVE_INSTANCE_STATES, Health
from estate.inventory.models import Component, Instance
from estate.runbooks.choices import ConditionKind
from estate.runbooks.executors import ExecutorError
from estate.telemetry import analysis

BAD = (Health.DOWN, Health.DEGRADED)
DEPENDENTS_LOOKBACK = timedelta(minutes=5)


def evaluate(turn, conditions: list[dict], *, key: str) -> list[dict]:
    measure = {
        ConditionKind.HEALTH: _health,
        ConditionKind.LAG: _lag,
        ConditionKind.PROMQL: _promql,
        ConditionKind.DEPENDENTS_ERROR_RATE: _dependents,
    }
    return [measure[c["kind"]](turn, c, key) for c in conditions]


def _result(name: str, value, bound: str, ok: bool, note: str = "") -> dict:
    shown = "no data" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)
    text = f"{name} = {shown}, must be {bound}" + (f" ({note})" if note else "")
    return {"name": name, "value": value, "bound": bound, "ok": ok, "text": text}


def _health(turn, condition: dict, key: str) -> dict:
    """No component of the window, nor any of its live instances, down or degraded. While the window runs the
    components read "maintenance"; their instances are still judged by telemetry, so they decide."""
    ids = turn.component_ids()
    bad_components = Component.objects.filter(pk__in=ids, health__in=BAD).count()
    bad_instances = Instance.objects.filter(component_id__in=ids, state__in=LIVE_INSTANCE_STATES,
                                            health__in=BAD).count()  # fmt: skip
    unhealthy = bad_components + bad_instances
    return _result("unhealthy components and instances", unhealthy, "0", unhealthy == 0)


def _lag(turn, condition: dict, key: str) -> dict:
    name, bound = "replication lag (s)", f"≤ {condition['max_seconds']:g}"
    try:
        members = turn.executor.facts(turn.op.component, key=key)
    except ExecutorError as exc:
        return _result(name, None, bound, False, str(exc)[:200])
    replicas = [m for m in members if m.role == "replica"]
    if not replicas or any(m.lag_seconds is None for m in replicas):
        return _result(name, None, bound, False, "a replica reports no lag" if replicas else "no replica reported")
    worst = max(m.lag_seconds for m in replicas)
    return _result(name, worst, bound, worst <= condition["max_seconds"])


def _promql(turn, condition: dict, key: str) -> dict:
    check = analysis.promql_check(turn.op.component, condition)
    return _result(check.name, check.value, check.bound, check.verdict == analysis.PASS, check.note)


def _dependents(turn, condition: dict, key: str) -> dict:
    now = timezone.now()
    since = now - DEPENDENTS_LOOKBACK
    checks = []
    for component in Component.objects.filter(pk__in=turn.component_ids()).select_related("environment"):
        checks += analysis.dependent_checks(component, since, now, since - DEPENDENTS_LOOKBACK, condition["max"])
    values = [c.value for c in checks if c.value is not None]
    failing = analysis.failed(checks)
    note = "; ".join(c.text() for c in failing)[:300] or ("" if checks else "nothing depends on these components")
    return _result("dependents' error rate", max(values) if values else None, f"≤ {condition['max']:g}",
                   not failing, note)  # fmt: skip
