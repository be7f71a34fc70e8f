"""An operation's parameters: each one's type and bounds, checked here and nowhere else.

The service cleans the parameters once, before the row is written; the engine then trusts them.
Every refusal names the parameter and its bound, so a 400 tells the person what to send instead.
Bounds that depend on the installation (how long a worker may wait, how many instances one
operation may touch) are settings, read when a request is checked.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings

# Primary keys are 64-bit (BigAutoField): a larger number would reach PostgreSQL as an error.
MAX_ID = 2**63 - 1


class ParamError(ValueError):
    """One parameter is refused; `name` is the parameter, the message says why and what is allowed."""

    def __init__(self, name: str, message: str):
        super().__init__(message)
        self.name = name
        self.message = message


def _max_wait() -> float:
    return settings.OPERATIONS_MAX_WAIT_SECONDS


def _max_instances() -> int:
    return settings.OPERATIONS_MAX_INSTANCES


def _const(value: float) -> Callable[[], float]:
    return lambda: value


@dataclass(frozen=True)
class Bounds:
    low: float
    high: Callable[[], float]


def _whole(name: str, value: Any) -> int:
    # bool is an int in Python; true is not a batch size.
    if isinstance(value, bool):
        raise ParamError(name, f"{name} must be a whole number, not {value!r}.")
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, int):
        return value
    # A long digit string is refused before int() (which refuses past 4300 digits with a bare ValueError).
    if isinstance(value, str) and len(value) <= 30 and value.strip().lstrip("+-").isdigit():
        return int(value.strip())
    raise ParamError(name, f"{name} must be a whole number, not {_shown(value)}.")


def _finite(name: str, value: Any, what: str = "number") -> float:
    number = None
    if isinstance(value, (int, float, str)) and not isinstance(value, bool):
        try:
            number = float(value)
        except ValueError:  # not a number at all
            number = None
        except OverflowError:  # an int past any float: too large, whatever the bound
            number = math.inf
    # NaN compares false with every bound and "inf" never runs out: both would wait forever.
    if number is None or not math.isfinite(number):
        raise ParamError(name, f"{name} must be a finite {what}, not {_shown(value)}.")
    return number


def _seconds(name: str, value: Any) -> float:
    return _finite(name, value, "number of seconds")


def _flag(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise ParamError(name, f"{name} must be true or false, not {_shown(value)}.")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _number(value: float) -> str:
    if isinstance(value, float) and not value.is_integer():
        return f"{value:g}"
    text = str(int(value))
    # A number too long to read (or to turn into a float) is shown by its size.
    return text if len(text) <= 25 else f"a {len(text)}-digit number"


def _within(name: str, value: float, bounds: Bounds, unit: str = "") -> float:
    low, high = bounds.low, bounds.high()
    if not low <= value <= high:
        raise ParamError(
            name, f"{name} must be between {_number(low)} and {_number(high)}{unit}; got {_number(value)}."
        )
    return value


NUMBERS: dict[str, tuple[Callable[[str, Any], float], Bounds, str]] = {
    "batch_size": (_whole, Bounds(1, _max_instances), ""),
    "max_unavailable": (_whole, Bounds(1, _max_instances), ""),
    "min_healthy_percentage": (_whole, Bounds(0, _const(100)), " %"),
    "warmup_seconds": (_seconds, Bounds(0, _max_wait), " s"),
    "health_timeout_seconds": (_seconds, Bounds(0, _max_wait), " s"),
    "bake_seconds": (_seconds, Bounds(0, _max_wait), " s"),
    "max_dependent_error_rate": (_finite, Bounds(0, _const(1)), ""),
    "image_id": (_whole, Bounds(1, _const(MAX_ID)), ""),
}
FLAGS = ("rollback", "make_current")
# name: (bounds of each item, most items)
LISTS: dict[str, tuple[Bounds, Callable[[], int]]] = {
    "checkpoints": (Bounds(1, _const(99)), _const(99)),
    "instance_ids": (Bounds(1, _const(MAX_ID)), _max_instances),
}
NAMES = frozenset({*NUMBERS, *FLAGS, *LISTS, "analysis_queries"})
# PromQL conditions of the analysis gate: few and short, each a query and one bound.
MAX_QUERIES, MAX_QUERY_LENGTH = 10, 1000
SHAPE = '{"query": "<PromQL>", "max" or "min": number}'


def _whole_list(name: str, value: Any) -> list[int]:
    if not isinstance(value, list):
        raise ParamError(name, f"{name} must be a list of whole numbers, not {_shown(value)}.")
    bounds, most = LISTS[name]
    if len(value) > most():
        raise ParamError(name, f"{name} may hold at most {most()} items; got {len(value)}.")
    try:
        items = [_within(name, _whole(name, item), bounds) for item in value]
    except ParamError as exc:
        raise ParamError(name, f"Each item of {exc.message}") from None
    if len(set(items)) != len(items):
        raise ParamError(name, f"{name} must not repeat an item.")
    return items


def clean(params: Any) -> dict[str, Any]:
    """The parameters converted to their types and checked against their bounds; ParamError otherwise."""
    if not isinstance(params, dict):
        raise ParamError("params", "params must be an object of named parameters.")
    unknown = sorted(str(name)[:40] for name in set(params) - NAMES)
    if unknown:
        named = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        raise ParamError("params", f"Unknown parameter(s): {named}. Known: {', '.join(sorted(NAMES))}.")
    return {name: _clean_one(name, value) for name, value in params.items()}


def _queries(name: str, value: Any) -> list[dict[str, Any]]:
    """[{"query": "<PromQL>", "max": 0.05} or {"query": ..., "min": 0.9}]: the bound the query's value must keep."""
    if not isinstance(value, list):
        raise ParamError(name, f"{name} must be a list of conditions ({SHAPE}), not {_shown(value)}.")
    if len(value) > MAX_QUERIES:
        raise ParamError(name, f"{name} may hold at most {MAX_QUERIES} items; got {len(value)}.")
    return [_query(name, n, item) for n, item in enumerate(value)]


def _query(name: str, n: int, item: Any) -> dict[str, Any]:
    where = f"{name}[{n}]"
    if not isinstance(item, dict) or set(item) - {"query", "max", "min"}:
        raise ParamError(name, f"{where} must be {SHAPE}, not {_shown(item)}.")
    query = item.get("query")
    if not isinstance(query, str) or not query.strip() or len(query) > MAX_QUERY_LENGTH:
        raise ParamError(name, f"{where}.query must be a PromQL expression of 1 to {MAX_QUERY_LENGTH} characters.")
    bounds = [key for key in ("max", "min") if key in item]
    if len(bounds) != 1:
        raise ParamError(name, f"{where} needs exactly one of max or min.")
    return {"query": query.strip(), bounds[0]: _finite(f"{where}.{bounds[0]}", item[bounds[0]])}


def _clean_one(name: str, value: Any) -> Any:
    if name == "analysis_queries":
        return _queries(name, value)
    if name in FLAGS:
        return _flag(name, value)
    if name in LISTS:
        return _whole_list(name, value)
    parse, bounds, unit = NUMBERS[name]
    return _within(name, parse(name, value), bounds, unit)
