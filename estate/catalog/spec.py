"""A catalog's files -> checked entries keyed by natural key, or a CatalogError naming each place.

The checks that need no database run here: size, YAML, the JSON Schema (unknown keys, types,
enums), duplicates, dependency cycles, cluster membership, and the component's own regime rules
(Component.clean on an unsaved object, so the rule keeps one home: the model).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path as FsPath
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from jsonschema import Draft202012Validator

from estate.catalog import canonical
from estate.catalog.canonical import COMPONENT_FIELDS, KIND_OF_SECTION, MODEL_TO_KEY, SECTIONS
from estate.catalog.errors import CatalogError, Problem, path_text
from estate.catalog.loader import Document, check_size, load_csv, load_yaml
from estate.inventory.choices import Mode
from estate.inventory.models import Component

SCHEMA_PATH = FsPath(__file__).parent / "schema" / "catalog-v1.json"


@cache
def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


@cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(schema())


@dataclass
class Entry:
    """One object the catalog declares, and where."""

    kind: str
    key: Any  # a slug; "environment/slug" for a component; (component, externalId) for an instance
    values: dict[str, Any]
    doc: Document
    path: tuple
    # Keys the source does not state (a CSV without the column): the inventory's value stays.
    keep: set[str] = field(default_factory=set)

    @property
    def label(self) -> str:
        return " ".join(self.key) if isinstance(self.key, tuple) else self.key

    @property
    def place(self) -> str:
        return f"{self.doc.source}:{self.doc.line_of(self.path)}"

    def problem(self, message: str, key: str | None = None) -> Problem:
        path = self.path + ((key,) if key else ())
        return Problem(self.doc.source, self.doc.line_of(path), path_text(path), message)


@dataclass
class Catalog:
    """Every entry of a catalog, per kind, with the kinds its files hold a section for."""

    name: str
    digest: str
    entries: dict[str, dict[Any, Entry]] = field(default_factory=lambda: {kind: {} for kind in SECTIONS})
    sections: set[str] = field(default_factory=set)

    def count(self) -> int:
        return sum(len(entries) for entries in self.entries.values())


def read_path(path: str) -> list[tuple[str, bytes]]:
    """A file, or a folder's *.yaml, *.yml and *.csv files in name order."""
    target = FsPath(path)
    if target.is_dir():
        files = sorted(p for p in target.rglob("*") if p.suffix in (".yaml", ".yml", ".csv") and p.is_file())
        return [(str(p.relative_to(target)), p.read_bytes()) for p in files]
    return [(target.name, target.read_bytes())]


def parse(files: list[tuple[str, bytes]], *, name: str = "") -> Catalog:
    """Parse and check a catalog; raises CatalogError (413 when too large) with every problem."""
    check_size(sum(len(content) for _, content in files))
    documents = [doc for source, content in files for doc in _documents(source, content)]
    _check_schema(documents)
    catalog = Catalog(name=name or (files[0][0] if len(files) == 1 else "catalog"), digest=_digest(files))
    problems = _collect(catalog, documents)
    if catalog.count() > settings.CATALOG_MAX_OBJECTS:
        problems.append(Problem("", 0, "", f"More than {settings.CATALOG_MAX_OBJECTS} objects (CATALOG_MAX_OBJECTS)."))
    problems += _assign_clusters(catalog) + _check_cycles(catalog)
    if problems:
        raise CatalogError(problems)
    return catalog


def _digest(files: list[tuple[str, bytes]]) -> str:
    digest = hashlib.sha256()
    for source, content in sorted(files):
        digest.update(source.encode() + b"\0" + hashlib.sha256(content).digest())
    return digest.hexdigest()


def _documents(source: str, content: bytes) -> list[Document]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CatalogError([Problem(source, 0, "", f"Not UTF-8 text (byte {exc.start}).")]) from exc
    if source.endswith(".csv"):
        return [load_csv(text, source)]
    return load_yaml(text, source)


# --- the JSON Schema ----------------------------------------------------------------------


def _check_schema(documents: list[Document]) -> None:
    problems = [
        problem for doc in documents for error in _validator().iter_errors(doc.data) for problem in _explain(doc, error)
    ]
    if problems:
        raise CatalogError(problems)


def _explain(doc: Document, error) -> list[Problem]:
    path = tuple(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = error.schema.get("properties", {})
        return [
            Problem(doc.source, doc.line_of((*path, key)), path_text((*path, key)), _unknown_key(key, allowed))
            for key in error.instance
            if key not in allowed
        ]
    return [Problem(doc.source, doc.line_of(path), path_text(path), error.message)]


def _unknown_key(key: str, allowed: dict) -> str:
    return f"Unknown key '{key}'; the keys here are {', '.join(allowed)}."


# --- entries, duplicates --------------------------------------------------------------------


def _collect(catalog: Catalog, documents: list[Document]) -> list[Problem]:
    problems: list[Problem] = []
    names: dict[tuple[str, str], Entry] = {}
    for doc in documents:
        for section, items in doc.data.items():
            kind = KIND_OF_SECTION.get(section)
            if kind is None:
                continue
            catalog.sections.add(kind)
            for index, raw in enumerate(items):
                entry = Entry(kind, _key(kind, raw), canonical.values_from_file(kind, raw), doc, (section, index))
                entry.keep = _kept(entry, raw)
                problems += _add(catalog, entry, names)
    if "cluster" not in catalog.sections:
        # A catalog without clusters leaves membership as it is, unless a component states its own.
        for entry in catalog.entries["component"].values():
            if entry.values["cluster"] is None and entry.doc.columns is None:
                entry.keep |= {"cluster", "role"}
    return problems


def _kept(entry: Entry, raw: dict) -> set[str]:
    if entry.doc.columns is None:
        return set()
    return {key for key in entry.values if key not in entry.doc.columns}


def _key(kind: str, raw: dict) -> Any:
    if kind == "component":
        return canonical.component_ref(raw["environment"], raw["slug"])
    if kind == "instance":
        return (raw["component"], raw["externalId"])
    return raw["slug"]


def _add(catalog: Catalog, entry: Entry, names: dict) -> list[Problem]:
    entries = catalog.entries[entry.kind]
    first = entries.get(entry.key)
    if first is not None:
        return [
            entry.problem(
                f"Duplicate {entry.kind} {entry.label}: already declared at {first.place}.", _key_field(entry)
            )
        ]
    entries[entry.key] = entry
    if entry.kind in ("team", "environment", "tag", "system", "cluster"):
        other = names.setdefault((entry.kind, entry.values["name"]), entry)
        if other is not entry:
            return [
                entry.problem(
                    f"Duplicate {entry.kind} name '{entry.values['name']}': {other.label} at {other.place} has it.",
                    "name",
                )
            ]
    return []


def _key_field(entry: Entry) -> str:
    return "externalId" if entry.kind == "instance" else "slug"


# --- clusters, cycles and the component's own rules -----------------------------------------


def _assign_clusters(catalog: Catalog) -> list[Problem]:
    """A cluster names its members; each becomes the member's cluster and role."""
    problems = []
    components = catalog.entries["component"]
    for cluster in catalog.entries["cluster"].values():
        for slug, role in cluster.values["members"].items():
            member = components.get(canonical.component_ref(cluster.values["environment"], slug))
            if member is None:
                message = f"No component {slug} in environment {cluster.values['environment']} in the catalog."
                problems.append(cluster.problem(message, "members"))
            elif member.values["cluster"] not in (None, cluster.key):
                message = f"{member.label} is already a member of cluster {member.values['cluster']}."
                problems.append(cluster.problem(message, "members"))
            else:
                member.values["cluster"], member.values["role"] = cluster.key, role
    return problems


def _check_cycles(catalog: Catalog) -> list[Problem]:
    graph = {key: entry.values["dependsOn"] for key, entry in catalog.entries["component"].items()}
    done: set[str] = set()
    problems = []
    for start in sorted(graph):
        if start in done:
            continue
        cycle = _find_cycle(start, graph, done)
        if cycle:
            entry = catalog.entries["component"][cycle[0]]
            problems.append(entry.problem(f"Dependency cycle: {' → '.join(cycle)}.", "dependsOn"))
    return problems


def _find_cycle(start: str, graph: dict, done: set) -> list[str]:
    """The first cycle reachable from start (iterative DFS: no recursion limit on long chains)."""
    path, on_path = [start], {start}
    stack = [iter(graph.get(start, ()))]
    while stack:
        nxt = next(stack[-1], None)
        if nxt is None:
            node = path.pop()
            on_path.discard(node)
            done.add(node)
            stack.pop()
            continue
        if nxt in on_path:
            done.update(path)  # one report per cycle, not one per member
            return path[path.index(nxt) :] + [nxt]
        if nxt in done or nxt not in graph:
            continue
        path.append(nxt)
        on_path.add(nxt)
        stack.append(iter(graph[nxt]))
    return []


def check_components(entries) -> list[Problem]:
    """The model's regime rules on each component as the catalog would leave it (no query)."""
    problems = []
    for entry in entries:
        try:
            _unsaved_component(entry.values).clean()
        except ValidationError as exc:
            for field_name, messages in exc.message_dict.items():
                key = MODEL_TO_KEY.get(field_name)
                problems += [entry.problem(message, key) for message in messages]
    return problems


def _unsaved_component(values: dict) -> Component:
    """The component as the model will see it, minus its references (the model's rules about them
    only ask whether they are set, so a stand-in id says "set")."""
    component = Component(**{field: values[key] for key, field in COMPONENT_FIELDS.items()})
    if values["image"] and values["mode"] == Mode.BASTION:
        component.current_image_id = 0
    if values["cluster"] and values["mode"] == Mode.IMMUTABLE:
        component.cluster_id = 0
    return component
