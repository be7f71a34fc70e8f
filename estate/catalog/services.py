"""Plan and apply a catalog. Every write goes through inventory's services and validated_save, so the
model's rules, the access scope and the audit trail apply as they do to a person's edit."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError, RestrictedError

from estate.audit.context import acting_as
from estate.catalog.canonical import COMPONENT_FIELDS, KINDS, MODEL_TO_KEY
from estate.catalog.errors import CatalogError, Problem
from estate.catalog.models import CatalogApply
from estate.catalog.plan import CREATE, PRUNE, UPDATE, Item, Plan, plan_catalog
from estate.catalog.spec import Catalog
from estate.core.errors import ApplicationError
from estate.core.services import validated_delete, validated_save
from estate.inventory import services as inventory
from estate.inventory.models import Cluster, Component, Environment, Image, Instance, System, Tag, Team

ACTOR_VIA = "catalog"


def catalog_plan(*, catalog: Catalog, prune: bool = False) -> Plan:
    return plan_catalog(catalog, prune=prune)


def catalog_apply(
    *, catalog: Catalog, prune: bool = False, user=None, expected_digest: str = "", idempotency_key: str | None = None
) -> Plan:
    """Apply all of the catalog or none of it, acting as "catalog:<name>" on behalf of `user`.

    With `expected_digest` (the plan a person confirmed), a catalog or inventory that changed
    since is refused (409) rather than applied unseen. The apply is recorded (CatalogApply) in
    the same transaction, under its Idempotency-Key when given.
    """
    actor = acting_as(f"catalog:{catalog.name}", via=ACTOR_VIA, on_behalf_of=getattr(user, "pk", None))
    with actor, transaction.atomic():
        plan = plan_catalog(catalog, prune=prune)
        if expected_digest and expected_digest != plan.digest:
            raise ApplicationError(
                "The catalog or the inventory changed since the plan was read; read the new plan, confirm again.",
                errors={"digest": ["The plan changed."]},
                status=409,
            )
        _Writer(plan).run()
        CatalogApply.objects.create(
            user=user if getattr(user, "pk", None) else None,
            source=catalog.name[:200],
            digest=catalog.digest,
            prune=prune,
            summary=plan.summary(),
            idempotency_key=idempotency_key,
            result=plan.as_dict() | {"applied": True} if idempotency_key else {},
        )
    return plan


def catalog_apply_once(*, catalog: Catalog, prune: bool, user, key: str) -> tuple[dict, bool]:
    """Apply under an Idempotency-Key: (the answer, whether it replays an earlier apply).

    The key is recorded in the apply's own transaction, so it is used exactly when its apply
    committed; a concurrent twin waits on the unique index, fails, and replays the winner's answer.
    """
    earlier = _earlier(user, key, catalog, prune)
    if earlier is not None:
        return earlier, True
    try:
        plan = catalog_apply(catalog=catalog, prune=prune, user=user, idempotency_key=key)
    except IntegrityError:
        earlier = _earlier(user, key, catalog, prune)
        if earlier is None:
            raise
        return earlier, True
    return plan.as_dict() | {"applied": True}, False


def _earlier(user, key: str, catalog: Catalog, prune: bool) -> dict | None:
    record = CatalogApply.objects.filter(user=user, idempotency_key=key).first()
    if record is None:
        return None
    if record.digest != catalog.digest or record.prune != prune:
        raise ApplicationError(
            "This Idempotency-Key was used for a different catalog; use a new key for a new apply.",
            errors={"Idempotency-Key": ["Reused for a different catalog."]},
            status=422,
        )
    return record.result


# --- the writes --------------------------------------------------------------------------


class _Writer:
    """Writes a plan's creates and updates in kind order, then its prunes in reverse order."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.estate = plan.estate
        # Natural key -> row, for every kind: the loaded rows, then each one written.
        self.objects: dict[str, dict[Any, Any]] = {kind: dict(self.estate.rows.get(kind, {})) for kind in KINDS}

    def run(self) -> None:
        for kind in KINDS:
            for item in self.plan.of(kind, CREATE, UPDATE):
                self.objects[kind][item.key] = self._guarded(item, getattr(self, f"_write_{kind}"))
            if kind == "component":
                for item in self.plan.of(kind, CREATE, UPDATE):
                    self._guarded(item, self._write_dependencies)
        if self.plan.prune:
            self._prune()

    def _guarded(self, item: Item, write):
        """Run one write; a refusal becomes a CatalogError naming the entry's place (and rolls all back)."""
        try:
            return write(item)
        except ValidationError as exc:
            raise CatalogError(_problems(item, exc)) from exc
        except PermissionDenied as exc:
            raise CatalogError([item.entry.problem(str(exc))], status=403) from exc

    def _ref(self, kind: str, key: str | None):
        return None if key is None else self.objects[kind][key]

    def _named(self, item: Item, model, **fields):
        obj = _fresh(item) or model(slug=item.key)
        for name, value in ({"name": item.entry.values["name"]} | fields).items():
            setattr(obj, name, value)
        return validated_save(obj)

    def _write_team(self, item: Item) -> Team:
        return self._named(item, Team)

    def _write_tag(self, item: Item) -> Tag:
        return self._named(item, Tag)

    def _write_environment(self, item: Item) -> Environment:
        return self._named(item, Environment, is_production=item.entry.values["production"])

    def _write_system(self, item: Item) -> System:
        values = item.entry.values
        return self._named(item, System, description=values["description"], owner=self._ref("team", values["owner"]))

    def _write_cluster(self, item: Item) -> Cluster:
        values = item.entry.values
        return self._named(
            item,
            Cluster,
            engine=values["engine"],
            environment=self.objects["environment"][values["environment"]],
            system=self._ref("system", values["system"]),
        )

    def _write_component(self, item: Item) -> Component:
        values = item.entry.values
        environment, slug = item.key.split("/", 1)
        data = {field: values[key] for key, field in COMPONENT_FIELDS.items()}
        data |= {
            "environment": self.objects["environment"][environment],
            "system": self._ref("system", values["system"]),
            "team": self._ref("team", values["team"]),
            "cluster": self._ref("cluster", values["cluster"]),
            "tags": [self.objects["tag"][tag] for tag in values["tags"]],
        }
        if values["image"] is None:
            data["current_image"] = None
        if item.row is None:
            component = inventory.component_create(data=data | {"slug": slug})
        else:
            component = inventory.component_update(component=_fresh(item), data=data)
        if values["image"] is not None:
            self._write_image(item.key, component, values["image"])
        return component

    def _write_image(self, key: str, component: Component, image: dict) -> None:
        """Make the declared version current: an image is found by (component, version), else built."""
        current = self.estate.images_by_id.get(component.current_image_id)
        if current and current.version == image["version"] and current.reference == image["reference"]:
            return
        existing = Image.objects.filter(component=component, version=image["version"]).first()
        if existing is None:
            existing = inventory.image_create(data={"component": component, **image}, make_current=True)
            # image_create saved its own copy of the row; ours must not undo it at the next save.
            component.current_image = existing
        else:
            existing.reference = image["reference"]
            validated_save(existing)
            component.current_image = existing
            validated_save(component)
        self.estate.images_by_id[existing.pk] = existing
        self.estate.images_by_version[(key, existing.version)] = existing

    def _write_dependencies(self, item: Item) -> None:
        if item.action == UPDATE and "dependsOn" not in item.changes:
            return
        if item.action == CREATE and not item.entry.values["dependsOn"]:
            return
        component = self.objects["component"][item.key]
        depends_on = [self.objects["component"][ref] for ref in item.entry.values["dependsOn"]]
        inventory.component_update(component=component, data={"depends_on": depends_on})

    def _write_instance(self, item: Item) -> Instance:
        ref, external_id = item.key
        values = item.entry.values
        image = None
        if values["image"] is not None:
            image = self.estate.images_by_version.get((ref, values["image"]))
            image = image or Image.objects.get(component=self.objects["component"][ref], version=values["image"])
        data = {
            "component": self.objects["component"][ref],
            "external_id": external_id,
            "state": values["state"],
            "address": values["address"],
            "zone": values["zone"],
            "image": image,
        }
        return inventory.instance_save(instance=_fresh(item), data=data)

    def _prune(self) -> None:
        problems = []
        for kind in reversed(KINDS):
            for item in self.plan.of(kind, PRUNE):
                problems += _delete(item)
        if problems:
            raise CatalogError(problems, status=409)


def _fresh(item: Item):
    """The row to update, read again and locked: the plan's copy may be seconds old, and a save writes
    every column, so health or last-seen written by telemetry since would otherwise be put back."""
    if item.row is None:
        return None
    try:
        return type(item.row).objects.select_for_update().get(pk=item.row.pk)
    except ObjectDoesNotExist as exc:
        message = "It was deleted while the catalog was being applied; plan again."
        raise CatalogError([item.entry.problem(message)], status=409) from exc


def _delete(item: Item) -> list[Problem]:
    """Delete one row in its own savepoint; what refuses (in use, out of scope) is reported, not raised,
    so the answer lists every refusal; the apply is then rolled back whole."""
    label = f"{item.kind} {item.label}"
    try:
        with transaction.atomic():
            validated_delete(item.row, message="pruned: no longer in the catalog")
    except ApplicationError as exc:
        return [Problem("", 0, label, f"Not pruned: {exc.message}")]
    except (ProtectedError, RestrictedError) as exc:
        users = getattr(exc, "protected_objects", None) or getattr(exc, "restricted_objects", None) or ()
        kinds = ", ".join(sorted({str(obj._meta.verbose_name_plural) for obj in users})) or "other records"
        return [Problem("", 0, label, f"Not pruned: still used by {kinds}.")]
    except PermissionDenied as exc:
        return [Problem("", 0, label, f"Not pruned: {exc}")]
    return []


def _problems(item: Item, exc: ValidationError) -> list[Problem]:
    if not hasattr(exc, "error_dict"):
        return [item.entry.problem(message) for message in exc.messages]
    return [
        item.entry.problem(message, MODEL_TO_KEY.get(name) if item.kind == "component" else _plain_key(name))
        for name, messages in exc.message_dict.items()
        for message in messages
    ]


def _plain_key(name: str) -> str | None:
    return None if name == "__all__" else {"is_production": "production", "external_id": "externalId"}.get(name, name)
