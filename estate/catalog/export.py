"""The inventory as a catalog (YAML) or as spreadsheets (CSV); applying it changes nothing."""

from __future__ import annotations

import csv
import io

import yaml

from estate.catalog import canonical
from estate.catalog.canonical import KINDS, SECTIONS
from estate.catalog.loader import COMPONENT_COLUMNS, INSTANCE_COLUMNS
from estate.catalog.plan import Estate, load_estate

HEADER = "# Estate catalog (estate/v1), exported. Schema: /api/v1/catalog/schema/\n"


def export_data(*, instances: bool = True) -> dict:
    estate = load_estate(instances=instances)
    data: dict = {"apiVersion": "estate/v1", "kind": "Catalog"}
    for kind in KINDS:
        if kind == "instance" and not instances:
            continue
        data[SECTIONS[kind]] = [_entry(kind, key, row, estate) for key, row in sorted(estate.rows[kind].items())]
    return data


def _entry(kind: str, key, row, estate: Estate) -> dict:
    return canonical.file_entry(kind, key, canonical.values_from_row(kind, row, estate))


def export_yaml(*, instances: bool = True) -> str:
    body = yaml.safe_dump(
        export_data(instances=instances), sort_keys=False, allow_unicode=True, default_flow_style=False, width=4096
    )
    return HEADER + body


def export_csv(kind: str = "components") -> str:
    """components or instances, one row per object, lists space-separated; import takes the same."""
    instances = kind == "instances"
    estate = load_estate(instances=instances)
    columns = INSTANCE_COLUMNS if instances else COMPONENT_COLUMNS
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    model_kind = "instance" if instances else "component"
    for key, row in sorted(estate.rows[model_kind].items()):
        values = canonical.values_from_row(model_kind, row, estate)
        writer.writerow(_csv_row(key, values, columns, instances))
    return out.getvalue()


def _csv_row(key, values: dict, columns: dict, instances: bool) -> dict:
    if instances:
        fixed = {"component": key[0], "external_id": key[1]}
    else:
        environment, slug = key.split("/", 1)
        image = values["image"] or {}
        fixed = {
            "environment": environment,
            "slug": slug,
            "image_version": image.get("version", ""),
            "image_reference": image.get("reference", ""),
        }
    return {column: fixed[column] if column in fixed else _text(values[name]) for column, name in columns.items()}


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return " ".join(value)
    return str(value)
