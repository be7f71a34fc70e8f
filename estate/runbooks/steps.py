"""The shape of a runbook's steps: parsed and bounded once, here, for the model, the API and the engine.

A runbook is a JSON list. Each item is an object with a `type` (action, gate, approval, manual,
notify) and a `name`; a plain string is the old checklist line and reads as a manual step, so
windows written before runbooks ran keep working. Every refusal names the step ("Step 3 “patch
replicas”: ...") so a person finds it in a long list.
"""

from __future__ import annotations

from typing import Any

from estate.runbooks.choices import ConditionKind, StepType, Target

MAX_STEPS = 100
MAX_NAME = 200
MAX_TEXT = 1000
MAX_PARAMS_TEXT = 2000
MAX_CONDITIONS = 10
ACTION_TIMEOUT = (1, 3600, 300)  # (lowest, highest, default) seconds
GATE_TIMEOUT = (1, 86400, 600)
GATE_HOLD = (0, 3600, 0)


class StepError(ValueError):
    """A step that is not well formed; the message names it."""


def label(position: int, step: Any) -> str:
    name = step.get("name") if isinstance(step, dict) else step
    return f"Step {position + 1}" + (f" “{str(name)[:60]}”" if name else "")


def normalise(raw: Any) -> list[dict]:
    """The steps as dicts with their defaults filled in; StepError naming the first bad one."""
    if not isinstance(raw, list):
        raise StepError("A runbook is a list of steps.")
    if len(raw) > MAX_STEPS:
        raise StepError(f"A runbook has at most {MAX_STEPS} steps; this one has {len(raw)}.")
    return [_step(position, item) for position, item in enumerate(raw)]


def _step(position: int, item: Any) -> dict:
    if isinstance(item, str):  # a checklist line from before runbooks ran: a person does it and ticks it
        item = {"type": StepType.MANUAL, "name": item}
    if not isinstance(item, dict):
        raise StepError(f"{label(position, item)}: a step is an object with a type and a name.")
    where = label(position, item)
    kind = item.get("type")
    if kind not in StepType.values:
        raise StepError(f"{where}: type must be one of {', '.join(StepType.values)}; got {kind!r}.")
    name = item.get("name") or _default_name(item)
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        raise StepError(f"{where}: a name of 1 to {MAX_NAME} characters.")
    step = {"type": kind, "name": name.strip()}
    step.update(_FIELDS[kind](where, item))
    return step


def _default_name(item: dict) -> str:
    if item.get("type") == StepType.ACTION and isinstance(item.get("action"), str):
        return f"{item['action']} {item.get('target', Target.COMPONENT)}"
    return ""


def _bounded(where: str, item: dict, key: str, bounds: tuple[int, int, int]) -> float:
    low, high, default = bounds
    value = item.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise StepError(f"{where}: {key} is a number of seconds from {low} to {high}; got {value!r}.")
    return float(value)


def _action(where: str, item: dict) -> dict:
    action = item.get("action")
    if not isinstance(action, str) or not action.strip() or len(action) > 50:
        raise StepError(f"{where}: an action step names its action (e.g. “patch”).")
    target = item.get("target", Target.COMPONENT)
    if target not in Target.values:
        raise StepError(f"{where}: target must be one of {', '.join(Target.values)}; got {target!r}.")
    params = item.get("params", {})
    if not isinstance(params, dict) or len(repr(params)) > MAX_PARAMS_TEXT:
        raise StepError(f"{where}: params is an object of at most {MAX_PARAMS_TEXT} characters.")
    return {
        "action": action,
        "target": target,
        "params": params,
        "timeout_seconds": _bounded(where, item, "timeout_seconds", ACTION_TIMEOUT),
    }


def _gate(where: str, item: dict) -> dict:
    conditions = item.get("conditions")
    if not isinstance(conditions, list) or not 1 <= len(conditions) <= MAX_CONDITIONS:
        raise StepError(f"{where}: a gate has 1 to {MAX_CONDITIONS} conditions.")
    return {
        "conditions": [_condition(where, c) for c in conditions],
        "hold_seconds": _bounded(where, item, "hold_seconds", GATE_HOLD),
        "timeout_seconds": _bounded(where, item, "timeout_seconds", GATE_TIMEOUT),
    }


def _condition(where: str, raw: Any) -> dict:
    kind = raw.get("kind") if isinstance(raw, dict) else None
    if kind not in ConditionKind.values:
        raise StepError(f"{where}: a condition's kind is one of {', '.join(ConditionKind.values)}; got {kind!r}.")
    if kind == ConditionKind.HEALTH:
        return {"kind": kind}
    if kind == ConditionKind.PROMQL:
        query, bounds = raw.get("query"), [k for k in ("max", "min") if k in raw]
        if not isinstance(query, str) or not query.strip() or len(query) > MAX_TEXT or len(bounds) != 1:
            raise StepError(f"{where}: a promql condition has a query and one bound, max or min.")
        return {"kind": kind, "query": query, bounds[0]: _number(where, raw[bounds[0]], bounds[0])}
    key = "max_seconds" if kind == ConditionKind.LAG else "max"
    return {"kind": kind, key: _number(where, raw.get(key), key)}


def _number(where: str, value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1e9:
        raise StepError(f"{where}: {key} is a number from 0; got {value!r}.")
    return float(value)


def _text_only(where: str, item: dict) -> dict:
    return {}


def _notify(where: str, item: dict) -> dict:
    message = item.get("message", item.get("name", ""))
    if not isinstance(message, str) or len(message) > MAX_TEXT:
        raise StepError(f"{where}: a notify step's message has at most {MAX_TEXT} characters.")
    return {"message": message}


_FIELDS = {
    StepType.ACTION: _action,
    StepType.GATE: _gate,
    StepType.APPROVAL: _text_only,
    StepType.MANUAL: _text_only,
    StepType.NOTIFY: _notify,
}


def unknown_actions(steps: list[dict], actions: tuple[str, ...], executor: str) -> list[str]:
    """A refusal per action step the executor cannot do, naming the step and what the executor can do."""
    can = ", ".join(actions) or "nothing"
    return [
        f"{label(position, step)}: the {executor} executor cannot “{step['action']}”; it can: {can}."
        for position, step in enumerate(steps)
        if step["type"] == StepType.ACTION and step["action"] not in actions
    ]
