"""Reading catalog text into plain data, bounded, remembering where every value was written.

PyYAML's safe composer builds a node graph without constructing anything; we walk that graph
ourselves so that (1) each value keeps its line for error messages, (2) an alias is expanded
under a budget of nodes (a "billion laughs" file stops at the budget, not at the memory limit)
and (3) a key written twice in one mapping is refused instead of silently overwritten.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

import yaml
from django.conf import settings

from estate.catalog.errors import CatalogError, Problem

Path = tuple  # ("components", 3, "mode")


@dataclass
class Document:
    """One YAML document (or one CSV file) as plain data, with the line of each path."""

    source: str
    data: Any
    lines: dict[Path, int] = field(default_factory=dict)
    line: int = 1
    # The catalog keys a CSV's header names; the others keep the inventory's value (None: YAML, all keys).
    columns: set[str] | None = None

    def line_of(self, path: Path) -> int:
        # The nearest written ancestor: a missing key is reported on its object's line.
        while path not in self.lines and path:
            path = path[:-1]
        return self.lines.get(path, self.line)


def limits() -> dict[str, int]:
    return {
        "bytes": settings.CATALOG_MAX_BYTES,
        "documents": settings.CATALOG_MAX_DOCUMENTS,
        "objects": settings.CATALOG_MAX_OBJECTS,
        "aliases": settings.CATALOG_MAX_ALIASES,
    }


def check_size(total: int) -> None:
    bound = settings.CATALOG_MAX_BYTES
    if total > bound:
        raise CatalogError(
            [Problem("", 0, "", f"The catalog is {total} bytes; at most {bound} are accepted (CATALOG_MAX_BYTES).")],
            status=413,
        )


# libyaml's composer when PyYAML has it (five times faster on a large catalog); both are "safe".
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _at(source: str, mark, message: str) -> Problem:
    return Problem(source, mark.line + 1, "", message, column=mark.column + 1)


def load_yaml(text: str, source: str) -> list[Document]:
    """Every document of one YAML text; raises CatalogError naming the line and column."""
    loader = _LOADER(text)
    # A file without aliases has fewer values than characters: aliases may not expand it beyond that.
    walker = _Walker(source, loader, budget=len(text) + 1000)
    documents = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if len(documents) >= settings.CATALOG_MAX_DOCUMENTS:
                raise CatalogError(
                    [_at(source, node.start_mark, f"More than {settings.CATALOG_MAX_DOCUMENTS} documents.")]
                )
            documents.append(walker.document(node))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise CatalogError([_at(source, mark, f"Malformed YAML: {exc.problem or exc.context}")]) from exc
    except yaml.YAMLError as exc:
        raise CatalogError([Problem(source, 0, "", f"Malformed YAML: {exc}")]) from exc
    finally:
        loader.dispose()
    return [doc for doc in documents if doc.data is not None]


_PLAIN_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


class _Walker:
    def __init__(self, source: str, loader, budget: int):
        self.source = source
        self.loader = loader
        self.budget = budget
        self.seen: set[int] = set()
        self.aliases = 0

    def document(self, node) -> Document:
        doc = Document(self.source, None, {}, node.start_mark.line + 1)
        doc.data = self.value(node, (), doc)
        return doc

    def value(self, node, path: Path, doc: Document) -> Any:
        self.budget -= 1
        if self.budget < 0:
            # Aliases can make a small file expand without end; stop at the same bound as a big file.
            raise CatalogError([_at(self.source, node.start_mark, "The catalog expands to too many values.")])
        self._count_alias(node)
        doc.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in _PLAIN_TAGS:
            # The walk builds plain lists and dicts: a tag asking for anything else is refused, not ignored.
            raise CatalogError([_at(self.source, node.start_mark, f"Malformed YAML: unsupported tag {node.tag}.")])
        if isinstance(node, yaml.MappingNode):
            return self.mapping(node, path, doc)
        if isinstance(node, yaml.SequenceNode):
            return [self.value(item, (*path, i), doc) for i, item in enumerate(node.value)]
        return self.loader.construct_object(node)

    def _count_alias(self, node) -> None:
        # The composer hands an alias over as the very node its anchor made: meeting one again is an alias.
        if id(node) not in self.seen:
            self.seen.add(id(node))
            return
        self.aliases += 1
        if self.aliases > settings.CATALOG_MAX_ALIASES:
            message = f"More than {settings.CATALOG_MAX_ALIASES} YAML alias expansions (CATALOG_MAX_ALIASES)."
            raise CatalogError([_at(self.source, node.start_mark, message)])

    def mapping(self, node, path: Path, doc: Document) -> dict:
        result: dict = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise CatalogError([_at(self.source, key_node.start_mark, "A key must be a plain value.")])
            key = self.loader.construct_object(key_node)
            if not isinstance(key, str):
                key = str(key)
            if key in result:
                raise CatalogError([_at(self.source, key_node.start_mark, f"The key '{key}' is written twice.")])
            doc.lines[(*path, key)] = key_node.start_mark.line + 1
            result[key] = self.value(value_node, (*path, key), doc)
        return result


# --- CSV: the components or the instances section, one row per object ------------------------

# Column -> catalog key, in the order an export writes them.
COMPONENT_COLUMNS = {
    "environment": "environment",
    "slug": "slug",
    "name": "name",
    "category": "category",
    "mode": "mode",
    "holds_state": "holdsState",
    "description": "description",
    "system": "system",
    "team": "team",
    "local_state": "localState",
    "heartbeat_seconds": "heartbeatSeconds",
    "provider": "provider",
    "image_version": "image",
    "image_reference": "image",
    "desired_instances": "desiredInstances",
    "max_instance_age_days": "maxInstanceAgeDays",
    "ssh": "ssh",
    "config_management": "configManagement",
    "engine": "engine",
    "engine_version": "engineVersion",
    "patch_cadence_days": "patchCadenceDays",
    "expected_failover_seconds": "expectedFailoverSeconds",
    "cluster": "cluster",
    "role": "role",
    "tags": "tags",
    "depends_on": "dependsOn",
}
INSTANCE_COLUMNS = {
    "component": "component",
    "external_id": "externalId",
    "state": "state",
    "address": "address",
    "zone": "zone",
    "image": "image",
}
_INTS = {"heartbeatSeconds", "desiredInstances", "maxInstanceAgeDays", "patchCadenceDays", "expectedFailoverSeconds"}
_BOOLS = {"holdsState", "ssh", "configManagement"}
_LISTS = {"tags", "dependsOn"}


def load_csv(text: str, source: str) -> Document:
    """A components or instances CSV (told apart by its header) as a one-section document.

    A column left out of the header leaves that value as the inventory has it (Document.columns).
    """
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    section, known = ("instances", INSTANCE_COLUMNS) if "external_id" in header else ("components", COMPONENT_COLUMNS)
    unknown = [name for name in header if name not in known]
    if unknown:
        message = f"Unknown column '{unknown[0]}'; the columns are {', '.join(known)}."
        raise CatalogError([Problem(source, 1, "", message)])
    doc = Document(source, {"apiVersion": "estate/v1", "kind": "Catalog", section: []})
    doc.columns = {known[name] for name in header}
    for index, row in enumerate(reader):
        if index >= settings.CATALOG_MAX_OBJECTS:
            raise CatalogError([Problem(source, reader.line_num, "", "Too many rows (CATALOG_MAX_OBJECTS).")])
        doc.lines[(section, index)] = reader.line_num
        doc.data[section].append(_csv_object(row, known, source, reader.line_num))
    return doc


def _csv_object(row: dict, known: dict, source: str, line: int) -> dict:
    obj: dict = {}
    for column, text in row.items():
        if column is None:
            raise CatalogError([Problem(source, line, "", "The row has more cells than the header.")])
        text = (text or "").strip()
        if text == "":
            continue
        if column.startswith("image_"):
            obj.setdefault("image", {})[column.removeprefix("image_")] = text
        else:
            obj[known[column]] = _csv_value(known[column], text)
    return obj


def _csv_value(key: str, text: str) -> Any:
    if key in _LISTS:
        return text.split()
    if key in _INTS:
        return int(text) if text.lstrip("-").isdigit() else text
    if key in _BOOLS:
        return {"true": True, "false": False}.get(text.lower(), text)
    return text
