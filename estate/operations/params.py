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


def _seconds(name: str, value: Any) -> float:
    number = None
    if isinstance(value, (int, float, str)) and not isinstance(value, bool):
        try:
            number = float(value)
        except ValueError:  # not a number at all
            number = None
        except OverflowError:  # an int past any float: too many seconds, whatever the bound
            number = math.inf
    # NaN compares false with every bound and "inf" never runs out: both would wait forever.
    if number is None or not math.isfinite(number):
        raise ParamError(name, f"{name} must be a finite number of seconds, not {_shown(value)}.")
    return number


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
    "image_id": (_whole, Bounds(1, _const(MAX_ID)), ""),
}
FLAGS = ("rollback", "make_current")
# name: (bounds of each item, most items)
LISTS: dict[str, tuple[Bounds, Callable[[], int]]] = {
    "checkpoints": (Bounds(1, _const(99)), _const(99)),
    "instance_ids": (Bounds(1, _const(MAX_ID)), _max_instances),
}
NAMES = frozenset({*NUMBERS, *FLAGS, *LISTS})


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


def _clean_one(name: str, value: Any) -> Any:
    if name in FLAGS:
        return _flag(name, value)
    if name in LISTS:
        return _whole_list(name, value)
    parse, bounds, unit = NUMBERS[name]
    return _within(name, parse(name, value), bounds, unit)
