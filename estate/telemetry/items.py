"""One ingest item: its shape, and the checks of one raw item from a batch before anything is resolved.

Everything here is pure (no query): a batch's items are parsed one by one, then resolved and stored
together by `estate.telemetry.ingest`.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings

from estate.core.fields import BIGINT_MAX
from estate.telemetry.choices import ItemType

Window = tuple[datetime, datetime, datetime]

NAME_RE = re.compile(r"^[A-Za-z_:][A-Za-z0-9_:.\-]{0,99}$")
KIND_RE = re.compile(r"^[a-z][a-z0-9_.\-]{0,49}$")
SURROGATE_RE = re.compile("[\ud800-\udfff]")
# TextChoices.values builds a new list on every call; a tuple, not a set: a JSON list as "type" is unhashable.
ITEM_TYPES = tuple(ItemType.values)


@dataclass
class Item:
    index: int
    type: str
    component_ref: int | tuple[str, str]
    instance_ref: str | None
    ts: datetime
    name: str = ""
    value: float = 0.0
    unit: str = ""
    kind: str = ""
    message: str = ""
    component_id: int = 0
    instance_id: int | None = None
    mode: str = ""
    event_id: int | None = None

    def identity(self) -> tuple:
        """What makes two items of a batch the same item sent twice (a sample's value does not)."""
        # name is "" but for samples, kind and message "" but for events: one tuple serves every type.
        return (self.type, self.component_id, self.instance_id, self.ts, self.name, self.kind, self.message)


def acceptance_window(now: datetime) -> Window:
    """(now, the latest and the earliest time accepted): read from settings once per batch, not per item."""
    return (
        now,
        now + timedelta(seconds=settings.TELEMETRY_MAX_FUTURE_SECONDS),
        now - timedelta(days=settings.TELEMETRY_RETENTION_DAYS),
    )


def parse_item(index: int, raw, window: Window, errors: dict) -> Item | None:
    problems: dict[str, list[str]] = {}

    def bad(name: str, message: str) -> None:
        problems.setdefault(name, []).append(message)

    if not isinstance(raw, dict):
        errors[str(index)] = {"non_field_errors": ["Each item must be a JSON object."]}
        return None
    kind = raw.get("type")
    if kind not in ITEM_TYPES:
        bad("type", f"Must be one of {', '.join(ItemType.values)}.")
    component_ref = _component_ref(raw.get("component"), bad)
    instance_ref = raw.get("instance")
    if instance_ref is not None and (not storable(instance_ref) or not 0 < len(instance_ref) <= 200):
        bad("instance", "Must be the instance's external id, a string of 1 to 200 characters.")
    ts = _timestamp(raw.get("timestamp"), window, bad)
    item = Item(index, kind, component_ref, instance_ref, ts)
    if kind == ItemType.SAMPLE:
        _parse_sample(raw, item, bad)
    elif kind == ItemType.EVENT:
        _parse_event(raw, item, bad)
    if problems:
        errors[str(index)] = problems
        return None
    return item


def storable(value) -> bool:
    """A string PostgreSQL can hold and psycopg can send: no NUL, no lone surrogate (JSON's "\\ud800")."""
    return isinstance(value, str) and "\x00" not in value and not SURROGATE_RE.search(value)


def _component_ref(value, bad) -> int | tuple[str, str] | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= BIGINT_MAX:
        return value
    named = _named_ref(value) if isinstance(value, str) else None
    if named is not None:
        return named
    bad("component", 'Name the component by its id or as "environment-slug/component-slug".')
    return None


@functools.lru_cache(maxsize=4096)
def _named_ref(value: str) -> tuple[str, str] | None:
    """("environment", "slug") from "environment/slug"; cached, as a batch names few components many times."""
    if storable(value) and value.count("/") == 1 and all(value.split("/")):
        environment, slug = value.split("/")
        return environment, slug
    return None


def _timestamp(value, window: Window, bad) -> datetime:
    now, latest, earliest = window
    if value is None:
        return now
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise ValueError
            ts = datetime.fromtimestamp(value, tz=UTC)
        elif isinstance(value, str):
            ts = datetime.fromisoformat(value)
        else:
            raise ValueError
    except (ValueError, OverflowError, OSError):
        bad("timestamp", "Must be an ISO 8601 time with a zone, or seconds since 1970.")
        return now
    if ts.tzinfo is None:
        bad("timestamp", "Give the time zone (for example 2026-01-31T12:00:00Z).")
        return now
    if ts > latest:
        bad("timestamp", f"More than {settings.TELEMETRY_MAX_FUTURE_SECONDS} s in the future; check the clock.")
    elif ts < earliest:
        bad("timestamp", f"Older than the {settings.TELEMETRY_RETENTION_DAYS}-day retention.")
    return ts


def _parse_sample(raw: dict, item: Item, bad) -> None:
    name, value, unit = raw.get("name"), raw.get("value"), raw.get("unit", "")
    if not isinstance(name, str) or not NAME_RE.match(name):
        bad("name", "A metric name of letters, digits, _ : . - (at most 100 characters).")
    item.name, item.unit, item.value = name, unit, _finite(value, bad)
    if not storable(unit) or len(unit) > 20:
        bad("unit", "A string of at most 20 characters (no NUL, no unpaired surrogate).")


def _finite(value, bad) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        bad("value", "Must be a number.")
        return 0.0
    try:
        number = float(value)  # an int past float's range (10**400 is valid JSON) overflows here
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        bad("value", "Must be finite: NaN, infinity and numbers past 1.8e308 are refused.")
        return 0.0
    return number


def _parse_event(raw: dict, item: Item, bad) -> None:
    kind, message = raw.get("kind"), raw.get("message", "")
    if not isinstance(kind, str) or not KIND_RE.match(kind):
        bad("kind", "A lower-case event kind such as ssh_session or deploy (at most 50 characters).")
    if not storable(message) or len(message) > 500:
        bad("message", "A string of at most 500 characters (no NUL, no unpaired surrogate).")
    item.kind, item.message = kind, message
