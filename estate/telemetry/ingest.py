"""The ingest fast path: validate a whole batch in a few queries, then insert it in bulk.

Nothing is saved item by item: components (with their team and system, for the sender's scope)
and instances are resolved with one query each, samples go in with COPY on PostgreSQL
(bulk_create elsewhere), heartbeats and taints are set with one UPDATE ... FROM VALUES per
thousand rows, and the taints' audit events with one INSERT. Parsing one item is `items.py`'s.

Once the batch commits, the components it named are queued for a prompt health evaluation
(`reevaluation.py`), so nobody waits for the beat to see the health a batch implies.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from django.db import connection, transaction
from django.utils import timezone

from estate.audit.choices import AuditAction
from estate.audit.context import Actor, current_actor
from estate.audit.services import audit_event, audit_record_many
from estate.core.errors import ApplicationError
from estate.inventory.choices import Mode
from estate.inventory.models import Component, Instance
from estate.telemetry import reevaluation
from estate.telemetry.choices import MUTATION_KINDS, ItemType
from estate.telemetry.db import insert_rows, update_from_values
from estate.telemetry.items import Item, acceptance_window, parse_item
from estate.telemetry.models import ComponentTelemetry, Event, Sample, StaleRollup
from estate.telemetry.retention import floor_bucket, late_before

if TYPE_CHECKING:
    from estate.access.scope import UserScope


PLURAL = {ItemType.HEARTBEAT: "heartbeats", ItemType.SAMPLE: "samples", ItemType.EVENT: "events"}
OUT_OF_SCOPE = "Outside the sender's scope: component {ref} belongs to a team and system it may not write about."


@dataclass
class Result:
    heartbeats: int = 0
    samples: int = 0
    events: int = 0
    tainted: list[str] = field(default_factory=list)
    duplicates: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PLURAL.values(), 0))
    # Only in partial mode (OTLP, remote_write): items left out, and why, by index.
    rejected: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "stored": {"heartbeats": self.heartbeats, "samples": self.samples, "events": self.events},
            "duplicates": self.duplicates,
            "tainted_instances": self.tainted,
        }


def ingest(
    raw_items: list,
    *,
    scope: UserScope | None = None,
    actor: Actor | None = None,
    now: datetime | None = None,
    partial: bool = False,
) -> Result:
    """Validate and store a batch; all or nothing. Raises ApplicationError naming each bad item.

    `scope` is what the sender may write about (None: the whole estate); an item about a
    component outside it refuses the batch with 403. Items sent twice in the batch are stored
    once. Each taint is audited as done by `actor` (default: whoever the request names).
    `partial` (OTLP's partial success): invalid items are left out and named in
    `Result.rejected` instead of refusing the batch; the scope still refuses it whole.
    """
    now = now or timezone.now()
    errors: dict[str, dict[str, list[str]]] = {}
    window = acceptance_window(now)
    items = [parse_item(i, raw, window, errors) for i, raw in enumerate(raw_items)]
    items = [item for item in items if item is not None]
    refused = _resolve(items, errors, scope)
    rejected: dict[str, dict[str, list[str]]] = {}
    if errors and partial and not refused:
        rejected, errors = errors, {}
        items = [item for item in items if str(item.index) not in rejected]
    if errors:
        raise ApplicationError(
            _refusal(len(errors), len(raw_items), refused),
            errors=dict(sorted(errors.items(), key=lambda kv: int(kv[0]))),
            status=403 if refused else 400,
        )
    items, duplicates = _unique(items)
    with transaction.atomic():
        result = _store(items, now, actor or current_actor())
        reevaluation.mark_touched(item.component_id for item in items)
    result.duplicates = duplicates
    result.rejected = rejected
    return result


def _refusal(bad: int, total: int, refused: int) -> str:
    if refused:
        return f"{refused} of {total} items are about components outside the sender's scope; nothing was stored."
    return f"{bad} of {total} items are invalid; nothing was stored."


def _unique(items: list[Item]) -> tuple[list[Item], dict[str, int]]:
    """The batch without items sent twice (the first is kept), and how many of each type were dropped."""
    seen: set[tuple] = set()
    kept: list[Item] = []
    duplicates = dict.fromkeys(PLURAL.values(), 0)
    for item in items:
        key = item.identity()
        if key in seen:
            duplicates[PLURAL[item.type]] += 1
            continue
        seen.add(key)
        kept.append(item)
    return kept, duplicates


# --- resolving names -----------------------------------------------------------------------


def _resolve(items: list[Item], errors: dict, scope: UserScope | None) -> int:
    """Name each item's component and instance; return how many items the scope refused."""
    components = _components([item.component_ref for item in items])
    pairs = set()
    refused = 0
    for item in items:
        found = components.get(item.component_ref)
        if found is None:
            errors[str(item.index)] = {"component": [f"No component {_ref_text(item.component_ref)}."]}
            continue
        item.component_id, item.mode, target = found
        if scope is not None and not scope.covers(target):
            errors[str(item.index)] = {"component": [OUT_OF_SCOPE.format(ref=_ref_text(item.component_ref))]}
            refused += 1
            continue
        if item.instance_ref is not None:
            pairs.add((item.component_id, item.instance_ref))
    instances = _instances(pairs)
    for item in items:
        if item.instance_ref is None or str(item.index) in errors:
            continue
        instance_id = instances.get((item.component_id, item.instance_ref))
        if instance_id is None:
            errors[str(item.index)] = {
                "instance": [f"Component {_ref_text(item.component_ref)} has no instance {item.instance_ref}."]
            }
        item.instance_id = instance_id
    return refused


def _ref_text(ref) -> str:
    return "/".join(ref) if isinstance(ref, tuple) else str(ref)


def _components(refs: list) -> dict:
    """{ref: (id, mode, (team id, system id))}: the scope's target comes with the same query."""
    ids = {ref for ref in refs if isinstance(ref, int)}
    named = {ref for ref in refs if isinstance(ref, tuple)}
    found = {}
    if ids:
        rows = Component.objects.filter(pk__in=ids).values_list("pk", "mode", "team_id", "system_id")
        for pk, mode, team_id, system_id in rows:
            found[pk] = (pk, mode, (team_id, system_id))
    if named:
        rows = Component.objects.filter(slug__in={slug for _, slug in named}).values_list(
            "pk", "mode", "team_id", "system_id", "slug", "environment__slug"
        )
        for pk, mode, team_id, system_id, slug, environment in rows:
            if (environment, slug) in named:
                found[(environment, slug)] = (pk, mode, (team_id, system_id))
    return found


def _instances(pairs: set) -> dict:
    found = {}
    pairs_list = sorted(pairs)
    for start in range(0, len(pairs_list), 5000):
        chunk = pairs_list[start : start + 5000]
        rows = Instance.objects.filter(
            component_id__in={c for c, _ in chunk}, external_id__in={e for _, e in chunk}
        ).values_list("pk", "component_id", "external_id")
        for pk, component_id, external_id in rows:
            found[(component_id, external_id)] = pk
    return found


# --- storing -------------------------------------------------------------------------------


def _store(items: list[Item], now: datetime, actor: Actor) -> Result:
    result = Result()
    by_type = defaultdict(list)
    for item in items:
        by_type[item.type].append(item)
    result.samples = _store_samples(by_type[ItemType.SAMPLE], now)
    result.heartbeats = _store_heartbeats(by_type[ItemType.HEARTBEAT])
    result.events, result.tainted = _store_events(by_type[ItemType.EVENT], actor)
    return result


def _store_samples(items: list[Item], now: datetime) -> int:
    if not items:
        return 0
    _mark_stale_buckets(items, now)
    if connection.vendor == "postgresql":
        copy_samples((i.component_id, i.instance_id, i.name, i.value, i.unit, i.ts) for i in items)
    else:
        Sample.objects.bulk_create(
            [
                Sample(
                    component_id=i.component_id,
                    instance_id=i.instance_id,
                    name=i.name,
                    value=i.value,
                    unit=i.unit,
                    ts=i.ts,
                )  # fmt: skip
                for i in items
            ],
            batch_size=2000,
        )
    return len(items)


def _mark_stale_buckets(items: list[Item], now: datetime) -> None:
    """Note the closed buckets this batch adds samples to, so the next rollup aggregates them again."""
    cutoff = late_before(now)
    stale = {(i.component_id, i.name, floor_bucket(i.ts)) for i in items if i.ts < cutoff}
    insert_rows(StaleRollup, ("component_id", "name", "bucket"), sorted(stale))


# The columns' PostgreSQL types, in COPY's order: a binary COPY sends each value as it is stored, without
# formatting it as text first (about 40% less time per row than COPY's text format).
COPY_TYPES = ["int8", "int8", "text", "float8", "text", "timestamptz"]


def copy_samples(rows) -> None:
    """COPY rows of (component_id, instance_id, name, value, unit, ts) into the samples table (binary)."""
    table = Sample._meta.db_table
    columns = "component_id, instance_id, name, value, unit, ts"
    sql = f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        copy.set_types(COPY_TYPES)
        for row in rows:
            copy.write_row(row)


def _store_heartbeats(items: list[Item]) -> int:
    if not items:
        return 0
    adapt = connection.ops.adapt_datetimefield_value
    per_instance: dict[int, datetime] = {}
    per_component: dict[int, datetime] = {}
    for item in items:
        if item.instance_id:
            per_instance[item.instance_id] = max(item.ts, per_instance.get(item.instance_id, item.ts))
        per_component[item.component_id] = max(item.ts, per_component.get(item.component_id, item.ts))
    ComponentTelemetry.objects.bulk_create(
        [ComponentTelemetry(component_id=pk) for pk in per_component], ignore_conflicts=True
    )
    newer = "{t}.{c} IS NULL OR {t}.{c} < v.ts"
    table = Instance._meta.db_table
    update_from_values(
        table, ("id", "ts"), ("bigint", "timestamptz"), [(pk, adapt(ts)) for pk, ts in per_instance.items()],
        "last_seen_at = v.ts", newer.format(t=table, c="last_seen_at"),
    )  # fmt: skip
    table = ComponentTelemetry._meta.db_table
    update_from_values(
        table, ("component_id", "ts"), ("bigint", "timestamptz"), [(pk, adapt(ts)) for pk, ts in per_component.items()],
        "last_heartbeat_at = v.ts", newer.format(t=table, c="last_heartbeat_at"),
    )  # fmt: skip
    return len(items)


def _store_events(items: list[Item], actor: Actor) -> tuple[int, list[str]]:
    if not items:
        return 0, []
    taints = _taint(_first_mutations(items))
    tainting = {id(item) for item in taints.values()}
    events = Event.objects.bulk_create(
        [
            Event(
                component_id=i.component_id,
                instance_id=i.instance_id,
                kind=i.kind,
                message=i.message,
                ts=i.ts,
                tainted=id(i) in tainting,
            )  # fmt: skip
            for i in items
        ],
        batch_size=2000,
    )
    for item, event in zip(items, events, strict=True):
        item.event_id = event.pk
    names = dict(Instance.objects.filter(pk__in=list(taints)).values_list("pk", "external_id"))
    _audit_taints(taints, names, actor)
    return len(items), sorted(names.values())


def _first_mutations(items: list[Item]) -> dict[int, Item]:
    """Per immutable instance, the earliest mutation event of the batch: the reason it is tainted."""
    first: dict[int, Item] = {}
    for item in sorted(items, key=lambda i: i.ts):
        if item.kind in MUTATION_KINDS and item.mode == Mode.IMMUTABLE and item.instance_id:
            first.setdefault(item.instance_id, item)
    return first


def _taint(first: dict[int, Item]) -> dict[int, Item]:
    """Taint the instances not tainted yet; return those this batch tainted, with their event.

    RETURNING names exactly the rows this UPDATE flipped: of two batches tainting one instance at
    once, the second waits for the first's row lock, then finds it tainted and flips nothing.
    """
    adapt = connection.ops.adapt_datetimefield_value
    rows = [(pk, taint_reason(item), adapt(item.ts)) for pk, item in first.items()]
    table = Instance._meta.db_table
    flipped = update_from_values(
        table, ("id", "reason", "at"), ("bigint", "text", "timestamptz"), rows,
        "tainted = TRUE, taint_reason = v.reason, tainted_at = v.at", f"{table}.tainted = FALSE", returning=True,
    )  # fmt: skip
    return {pk: first[pk] for pk in flipped}


def _audit_taints(taints: dict[int, Item], names: dict[int, str], actor: Actor) -> None:
    """One INSTANCE_TAINTED event per instance this batch tainted, naming the event that did it."""
    audit_record_many(
        [
            audit_event(
                action=AuditAction.INSTANCE_TAINTED,
                object_type=Instance._meta.label_lower,
                object_id=pk,
                object_repr=names.get(pk, ""),
                changes={
                    "tainted": True,
                    "taint_reason": taint_reason(item),
                    "tainted_at": item.ts,
                    "event": {"id": item.event_id, "kind": item.kind, "message": item.message, "ts": item.ts},
                },
                message=f"Tainted by the {item.kind} event {item.event_id}: {taint_reason(item)}",
                actor=actor,
            )
            for pk, item in sorted(taints.items())
        ]
    )


def taint_reason(item: Item) -> str:
    text = f"{item.kind} at {item.ts:%Y-%m-%d %H:%M:%S %Z}"
    if item.message:
        text += f": {item.message}"
    return text[:300]
