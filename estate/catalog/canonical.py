"""One shape per kind, shared by the file, the plan and the export.

A catalog object and a database row are both turned into the same canonical values (catalog
names, defaults filled in, references as natural keys), so the plan is a comparison of two dicts
and the export writes back exactly what a file would have to say to leave the row unchanged.
"""

from __future__ import annotations

from typing import Any

from estate.inventory.choices import STATEFUL_CATEGORIES, InstanceState, Mode

# Kinds in the order they are written (a kind only refers to kinds before it); pruned in reverse.
KINDS = ("team", "environment", "tag", "system", "cluster", "component", "instance")
SECTIONS = {
    "team": "teams",
    "environment": "environments",
    "tag": "tags",
    "system": "systems",
    "cluster": "clusters",
    "component": "components",
    "instance": "instances",
}
KIND_OF_SECTION = {section: kind for kind, section in SECTIONS.items()}

# Component values that are not written in a component's own entry (the cluster lists its members).
COMPONENT_INTERNAL = ("cluster", "role")
# Catalog key -> model field, for the values that map one to one.
COMPONENT_FIELDS = {
    "name": "name",
    "description": "description",
    "category": "category",
    "mode": "mode",
    "holdsState": "holds_state",
    "localState": "local_state",
    "heartbeatSeconds": "heartbeat_period_seconds",
    "provider": "provider",
    "desiredInstances": "desired_instances",
    "maxInstanceAgeDays": "max_instance_age_days",
    "ssh": "ssh_enabled",
    "configManagement": "config_management_enabled",
    "engine": "engine",
    "engineVersion": "engine_version",
    "patchCadenceDays": "patch_cadence_days",
    "expectedFailoverSeconds": "expected_failover_seconds",
    "role": "role",
}
MODEL_TO_KEY = {field: key for key, field in COMPONENT_FIELDS.items()} | {
    "current_image": "image",
    "depends_on": "dependsOn",
    "system": "system",
    "team": "team",
    "tags": "tags",
    "environment": "environment",
    "slug": "slug",
    "cluster": "mode",
}
COMPONENT_DEFAULTS: dict[str, Any] = {
    "description": "",
    "system": None,
    "team": None,
    "localState": "",
    "heartbeatSeconds": None,
    "provider": "",
    "image": None,
    "desiredInstances": None,
    "maxInstanceAgeDays": None,
    "ssh": False,
    "configManagement": False,
    "engine": "",
    "engineVersion": "",
    "patchCadenceDays": None,
    "expectedFailoverSeconds": None,
    "tags": [],
    "dependsOn": [],
}


def component_ref(environment: str, slug: str) -> str:
    return f"{environment}/{slug}"


def full_ref(ref: str, environment: str) -> str:
    """A dependsOn entry as environment/slug; a bare slug means the component's own environment."""
    return ref if "/" in ref else component_ref(environment, ref)


def default_holds_state(category: str) -> bool:
    return category in STATEFUL_CATEGORIES


# --- from the file ---------------------------------------------------------------------------


def values_from_file(kind: str, raw: dict) -> dict[str, Any]:
    return _FROM_FILE[kind](raw)


def _named(raw: dict) -> dict:
    return {"name": raw.get("name", raw["slug"])}


def _environment(raw: dict) -> dict:
    return _named(raw) | {"production": raw.get("production", False)}


def _system(raw: dict) -> dict:
    return _named(raw) | {"description": raw.get("description", ""), "owner": raw.get("owner")}


def _cluster(raw: dict) -> dict:
    return _named(raw) | {
        "engine": raw["engine"],
        "environment": raw["environment"],
        "system": raw.get("system"),
        "members": dict(sorted(raw.get("members", {}).items())),
    }


def _component(raw: dict) -> dict:
    holds = raw.get("holdsState", default_holds_state(raw["category"]))
    values = {key: raw.get(key, default) for key, default in COMPONENT_DEFAULTS.items()}
    values |= {
        "name": raw.get("name", raw["slug"]),
        "category": raw["category"],
        "holdsState": holds,
        "mode": raw.get("mode", Mode.BASTION if holds else Mode.IMMUTABLE),
        "tags": sorted(raw.get("tags", [])),
        "dependsOn": sorted(full_ref(ref, raw["environment"]) for ref in raw.get("dependsOn", [])),
        "cluster": raw.get("cluster"),
        "role": raw.get("role", ""),
    }
    return values


def _instance(raw: dict) -> dict:
    return {
        "state": raw.get("state", InstanceState.RUNNING),
        "address": raw.get("address", ""),
        "zone": raw.get("zone", ""),
        "image": raw.get("image"),
    }


_FROM_FILE = {
    "team": _named,
    "environment": _environment,
    "tag": _named,
    "system": _system,
    "cluster": _cluster,
    "component": _component,
    "instance": _instance,
}


# --- from the database (rows loaded by plan.load_estate) --------------------------------------


def values_from_row(kind: str, row, estate) -> dict[str, Any]:
    return _FROM_ROW[kind](row, estate)


def _named_row(row, estate) -> dict:
    return {"name": row.name}


def _environment_row(row, estate) -> dict:
    return {"name": row.name, "production": row.is_production}


def _system_row(row, estate) -> dict:
    return {"name": row.name, "description": row.description, "owner": estate.slug("team", row.owner_id)}


def _cluster_row(row, estate) -> dict:
    return {
        "name": row.name,
        "engine": row.engine,
        "environment": estate.slug("environment", row.environment_id),
        "system": estate.slug("system", row.system_id),
        "members": dict(sorted(estate.members.get(row.pk, {}).items())),
    }


def _component_row(row, estate) -> dict:
    values = {key: getattr(row, field) for key, field in COMPONENT_FIELDS.items()}
    image = estate.images_by_id.get(row.current_image_id)
    values |= {
        "system": estate.slug("system", row.system_id),
        "team": estate.slug("team", row.team_id),
        "image": {"version": image.version, "reference": image.reference} if image else None,
        "tags": sorted(estate.slug("tag", pk) for pk in estate.component_tags.get(row.pk, ())),
        "dependsOn": sorted(estate.component_key(pk) for pk in estate.component_deps.get(row.pk, ())),
        "cluster": estate.slug("cluster", row.cluster_id),
    }
    return values


def _instance_row(row, estate) -> dict:
    image = estate.images_by_id.get(row.image_id)
    return {"state": row.state, "address": row.address, "zone": row.zone, "image": image.version if image else None}


_FROM_ROW = {
    "team": _named_row,
    "environment": _environment_row,
    "tag": _named_row,
    "system": _system_row,
    "cluster": _cluster_row,
    "component": _component_row,
    "instance": _instance_row,
}


# --- back to the file (the export) ------------------------------------------------------------


def file_entry(kind: str, key, values: dict) -> dict:
    """The entry a catalog file holds for these values: keys first, defaults left out."""
    if kind == "component":
        environment, slug = key.split("/", 1)
        head = {"slug": slug, "environment": environment, "name": values["name"], "category": values["category"]}
        head["mode"] = values["mode"]
        if values["holdsState"] != default_holds_state(values["category"]):
            head["holdsState"] = values["holdsState"]
        rest = {k: values[k] for k, default in COMPONENT_DEFAULTS.items() if values[k] != default}
        return head | rest
    if kind == "instance":
        ref, external_id = key
        entry = {"component": ref, "externalId": external_id, "state": values["state"]}
        return entry | {k: values[k] for k in ("address", "zone", "image") if values[k]}
    entry = {"slug": key} | values
    return {k: v for k, v in entry.items() if v not in (None, "", {}) and not (k == "production" and v is False)}
