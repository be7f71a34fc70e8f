"""The plan: what applying a catalog would do to each object, computed from one read per kind."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from estate.catalog import canonical
from estate.catalog.canonical import KINDS
from estate.catalog.errors import CatalogError, Problem
from estate.catalog.spec import Catalog, Entry, check_components
from estate.inventory.models import Cluster, Component, Environment, Image, Instance, System, Tag, Team

CREATE, UPDATE, UNCHANGED, PRUNE = "create", "update", "unchanged", "prune"
ACTIONS = (CREATE, UPDATE, UNCHANGED, PRUNE)
_MODELS = {"team": Team, "environment": Environment, "tag": Tag, "system": System, "cluster": Cluster}


@dataclass
class Estate:
    """The inventory's rows by natural key, read with one query per kind (plus two link tables)."""

    rows: dict[str, dict[Any, Any]] = field(default_factory=dict)
    slugs: dict[str, dict[int, str]] = field(default_factory=dict)
    members: dict[int, dict[str, str]] = field(default_factory=dict)
    component_tags: dict[int, list[int]] = field(default_factory=dict)
    component_deps: dict[int, list[int]] = field(default_factory=dict)
    images_by_id: dict[int, Image] = field(default_factory=dict)
    # (component key, image version) -> Image, for the versions the catalog's instances name
    images_by_version: dict[tuple[str, str], Image] = field(default_factory=dict)

    def slug(self, kind: str, pk: int | None) -> str | None:
        return None if pk is None else self.slugs[kind][pk]

    def component_key(self, pk: int) -> str:
        return self.slugs["component"][pk]


def load_estate(*, instances: bool, image_versions: set[str] = frozenset()) -> Estate:
    estate = Estate()
    for kind, model in _MODELS.items():
        estate.rows[kind] = {row.slug: row for row in model.objects.all()}
        estate.slugs[kind] = {row.pk: row.slug for row in estate.rows[kind].values()}
    _load_components(estate)
    estate.rows["instance"] = {}
    if instances:
        _load_instances(estate)
    _load_images(estate, image_versions)
    return estate


def _load_components(estate: Estate) -> None:
    environments = estate.slugs["environment"]
    components = list(Component.objects.all())
    estate.slugs["component"] = {
        c.pk: canonical.component_ref(environments[c.environment_id], c.slug) for c in components
    }
    estate.rows["component"] = {estate.slugs["component"][c.pk]: c for c in components}
    for c in components:
        if c.cluster_id:
            estate.members.setdefault(c.cluster_id, {})[c.slug] = c.role
    for component_id, tag_id in Component.tags.through.objects.values_list("component_id", "tag_id"):
        estate.component_tags.setdefault(component_id, []).append(tag_id)
    links = Component.depends_on.through.objects.values_list("from_component_id", "to_component_id")
    for from_id, to_id in links:
        estate.component_deps.setdefault(from_id, []).append(to_id)


def _load_instances(estate: Estate) -> None:
    for instance in Instance.objects.all():
        key = (estate.component_key(instance.component_id), instance.external_id)
        estate.rows["instance"][key] = instance


def _load_images(estate: Estate, versions: set[str]) -> None:
    wanted = {c.current_image_id for c in estate.rows["component"].values() if c.current_image_id}
    wanted |= {i.image_id for i in estate.rows["instance"].values() if i.image_id}
    query = Image.objects.filter(pk__in=wanted)
    if versions:
        query = query | Image.objects.filter(version__in=versions)
    for image in query:
        estate.images_by_id[image.pk] = image
        estate.images_by_version[(estate.component_key(image.component_id), image.version)] = image


@dataclass
class Item:
    kind: str
    key: Any
    action: str
    changes: dict[str, tuple[Any, Any]]
    entry: Entry | None = None
    row: Any = None

    @property
    def label(self) -> str:
        return " ".join(self.key) if isinstance(self.key, tuple) else self.key

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "key": self.label,
            "action": self.action,
            "changes": {name: {"before": b, "after": a} for name, (b, a) in self.changes.items()},
            "where": self.entry.place if self.entry else "",
        }


@dataclass
class Plan:
    catalog: Catalog
    estate: Estate
    prune: bool
    items: list[Item]

    def summary(self) -> dict[str, int]:
        counts = dict.fromkeys(ACTIONS, 0)
        for item in self.items:
            counts[item.action] += 1
        return counts

    def of(self, kind: str, *actions: str) -> list[Item]:
        return [item for item in self.items if item.kind == kind and item.action in actions]

    @property
    def digest(self) -> str:
        """The catalog and what it would change: a confirm carrying it applies exactly what was read."""
        body = json.dumps([self.catalog.digest, self.prune, [i.as_dict() for i in self.items]], default=str)
        return hashlib.sha256(body.encode()).hexdigest()

    def as_dict(self) -> dict:
        return {
            "catalog": self.catalog.name,
            "digest": self.digest,
            "prune": self.prune,
            "summary": self.summary(),
            "items": [item.as_dict() for item in self.items],
        }


def plan_catalog(catalog: Catalog, *, prune: bool) -> Plan:
    """Compare the catalog with the inventory; raises CatalogError for references to nothing."""
    versions = {e.values["image"] for e in catalog.entries["instance"].values() if e.values["image"]}
    estate = load_estate(instances="instance" in catalog.sections, image_versions=versions)
    problems = _check_references(catalog, estate, prune)
    if problems:
        raise CatalogError(problems)
    items = []
    for kind in KINDS:
        items += [_item(entry, estate) for entry in catalog.entries[kind].values()]
        if kind in catalog.sections:
            absent = [key for key in estate.rows[kind] if key not in catalog.entries[kind]]
            items += [Item(kind, key, PRUNE, {}, row=estate.rows[kind][key]) for key in sorted(absent)]
    problems = check_components(catalog.entries["component"].values())
    if problems:
        raise CatalogError(problems)
    return Plan(catalog, estate, prune, items)


def _item(entry: Entry, estate: Estate) -> Item:
    row = estate.rows[entry.kind].get(entry.key)
    if row is None:
        return Item(entry.kind, entry.key, CREATE, {}, entry=entry)
    before = canonical.values_from_row(entry.kind, row, estate)
    for key in entry.keep:
        entry.values[key] = before[key]
    changes = {name: (before[name], value) for name, value in entry.values.items() if before[name] != value}
    return Item(entry.kind, entry.key, UPDATE if changes else UNCHANGED, changes, entry=entry, row=row)


# --- references -------------------------------------------------------------------------------


def _known(catalog: Catalog, estate: Estate, prune: bool, kind: str) -> set:
    """Keys a reference may name: the catalog's, and the inventory's unless a prune removes them."""
    keys = set(catalog.entries[kind])
    if not (prune and kind in catalog.sections):
        keys |= set(estate.rows[kind])
    return keys


# (kind of the referring entry, its key, kind referred to)
_REFERENCES = (
    ("system", "owner", "team"),
    ("cluster", "environment", "environment"),
    ("cluster", "system", "system"),
    ("component", "system", "system"),
    ("component", "team", "team"),
    ("component", "tags", "tag"),
    ("component", "dependsOn", "component"),
    ("component", "cluster", "cluster"),
    ("instance", "component", "component"),
)


def _check_references(catalog: Catalog, estate: Estate, prune: bool) -> list[Problem]:
    known = {kind: _known(catalog, estate, prune, kind) for kind in KINDS}
    problems = []
    for kind, key, target in _REFERENCES:
        for entry in catalog.entries[kind].values():
            problems += _dangling(entry, key, target, known[target])
    for entry in catalog.entries["component"].values():
        environment = entry.key.split("/", 1)[0]
        if environment not in known["environment"]:
            problems.append(
                entry.problem(f"No environment {environment} in the catalog or the inventory.", "environment")
            )
    for entry in catalog.entries["instance"].values():
        problems += _unknown_image(entry, catalog, estate)
    return problems


def _dangling(entry: Entry, key: str, target: str, known: set) -> list[Problem]:
    value = entry.key[0] if key == "component" and entry.kind == "instance" else entry.values.get(key)
    names = value if isinstance(value, list) else [value]
    return [
        entry.problem(f"No {target} {name} in the catalog or the inventory.", key)
        for name in names
        if name is not None and name not in known
    ]


def _unknown_image(entry: Entry, catalog: Catalog, estate: Estate) -> list[Problem]:
    version = entry.values["image"]
    if version is None:
        return []
    component = entry.key[0]
    declared = catalog.entries["component"].get(component)
    if declared and declared.values["image"] and declared.values["image"]["version"] == version:
        return []
    if (component, version) in estate.images_by_version:
        return []
    return [entry.problem(f"{component} has no image {version}.", "image")]
