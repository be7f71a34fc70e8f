"""Write what a source reported into the inventory: set-based, a few queries per kind of row.

Rows are written in bulk (bulk_create / bulk_update), yet each one passes the checks a person's write
passes: its fields' validation, the access guard (core.services.guard_write) and the database's
constraints (the regime rules: what holds state is a bastion ...). Every create and change is in the
audit trail, done by "discovery:<source>" via "discovery", in one INSERT. Should the bulk insert meet a
constraint, the rows are written one by one in savepoints so the culprit alone is refused and named.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from estate.audit.services import audit_event, audit_record_many, diff
from estate.core.cache import estate_changed
from estate.core.services import field_values, guard_write, validated_save
from estate.discovery.choices import ObjectKind
from estate.discovery.models import DiscoveredObject, DiscoverySource
from estate.discovery.observed import EVERYWHERE, SeenComponent, SeenImage, SeenInstance
from estate.discovery.ownership import INSTANCE_FIELDS, managed_fields
from estate.inventory.choices import LIVE_INSTANCE_STATES, InstanceState, Mode
from estate.inventory.models import Cluster, Component, Environment, Image, Instance, System, Team
from estate.patching import deadlines
from estate.patching.choices import DeadlineSource

RELATIONS = ("environment", "team", "system", "cluster", "current_image", "component", "image")
MAX_MESSAGES = 200


@dataclass
class SyncReport:
    counts: dict[str, Counter] = field(default_factory=lambda: {"component": Counter(), "instance": Counter()})
    messages: list[str] = field(default_factory=list)

    def refuse(self, kind: str, label: str, reason) -> None:
        self.counts[kind]["errors"] += 1
        if len(self.messages) < MAX_MESSAGES:
            self.messages.append(f"{label}: {_reason(reason)}")

    def total(self, name: str) -> int:
        return sum(c[name] for c in self.counts.values())

    def as_dict(self) -> dict:
        names = ("created", "updated", "unchanged", "gone", "errors")
        report = {kind: {n: counts[n] for n in names} for kind, counts in self.counts.items()}
        if detached := self.counts["component"]["detached"]:  # only where people detached something
            report["component"]["detached"] = detached
        return report


def _reason(reason) -> str:
    if isinstance(reason, ValidationError):
        if hasattr(reason, "error_dict"):
            return "; ".join(f"{k}: {' '.join(v)}" for k, v in reason.message_dict.items())
        return " ".join(reason.messages)
    return str(reason)


def _check(obj) -> None:
    """The per-row checks that need no query: field validation and the access guard."""
    guard_write(obj)
    obj.clean_fields(exclude=RELATIONS)


def _bulk_create(model, rows: list, report: SyncReport, kind: str, label) -> list:
    """Insert all in one statement; if a constraint refuses, one by one so only the culprit is refused."""
    if not rows:
        return []
    try:
        with transaction.atomic():
            return model.objects.bulk_create(rows)
    except IntegrityError:
        pass
    kept = []
    for row in rows:
        try:
            with transaction.atomic():
                row.save()
            kept.append(row)
        except IntegrityError as exc:
            row.pk = None
            report.refuse(kind, label(row), str(exc).splitlines()[0])
    return kept


class SyncWriter:
    """One run's writes. Call write() inside acting_as(source) and a transaction."""

    def __init__(self, source: DiscoverySource, *, account: str, now: datetime):
        self.source = source
        self.account = account
        self.now = now
        self.report = SyncReport()
        self.events = []
        self.images: dict[tuple[int, str], Image] = {}
        # Only these columns are written on a component it already holds: a person's concurrent edit
        # of any other column survives the sync (inventory/ownership.py refuses edits of these).
        self.managed = managed_fields(source)

    def write(self, seen: list[SeenComponent], read_regions: list[str]) -> SyncReport:
        records = {
            r.key: r
            for r in DiscoveredObject.objects.filter(source=self.source)
            .select_related("component", "instance")
            .select_for_update(of=("self",))
        }
        seen = self._leave_detached(self._unique(seen), records)
        self._seen_keys = {s.key for s in seen} | {f"{s.key}#{i.external_id}" for s in seen for i in s.instances}
        self._seen_details = {s.key: s.details for s in seen}
        refs = _References(self, seen)
        components = self._components(seen, records, refs)
        self._instances(seen, components, records)
        _vendor_deadlines(seen, components)
        self._gone(records, set(read_regions))
        self._save_records(records)
        audit_record_many(self.events)
        estate_changed()
        return self.report

    def _unique(self, seen: list[SeenComponent]) -> list[SeenComponent]:
        keys, kept = set(), []
        for s in seen:
            if s.key not in keys:
                keys.add(s.key)
                kept.append(s)
        return kept

    def _leave_detached(self, seen: list[SeenComponent], records: dict) -> list[SeenComponent]:
        """Drop what people detached (components and their instances) from both sides: the source
        leaves it alone, neither changed nor gone, and the run counts it as detached."""
        detached = {key for key, r in records.items() if r.detached_at is not None}
        for key in detached:
            del records[key]
        kept = [s for s in seen if s.key not in detached]
        self.report.counts["component"]["detached"] += len(seen) - len(kept)
        return kept

    # --- components ---------------------------------------------------------------------

    def _components(self, seen, records, refs) -> dict[str, Component]:
        """{key: saved component} for every component seen and written (new and existing)."""
        fresh = [s for s in seen if s.key not in records]
        known = [s for s in seen if s.key in records]
        created = self._create_components(fresh, refs)
        components = created | {s.key: records[s.key].component for s in known}
        self._ensure_images(seen, components)
        changed = self._change_components(known, records, refs, components)
        self._set_new_images(fresh, created)
        self._save_changed(Component, list(changed.values()) + list(created.values()), self.managed)
        self._events_for_created(created.values())
        self._records_for(created, fresh, records)
        return {key: c for key, c in components.items() if c.pk}

    def _values(self, s: SeenComponent, refs) -> dict:
        return {
            "name": s.name[:100],
            "category": s.category,
            "mode": s.mode,
            "holds_state": s.holds_state,
            "managed": s.managed,
            "provider": s.provider,
            "engine": s.engine,
            "engine_version": s.engine_version[:50],
            "desired_instances": s.desired_instances,
            "team": refs.team(s),
            "system": refs.system(s),
            "cluster": refs.cluster(s),
            "role": s.role if s.mode == Mode.BASTION else "",
        }

    def _create_components(self, fresh: list[SeenComponent], refs) -> dict[str, Component]:
        rows, keys = [], {}
        slugs = _Slugs(fresh, refs)
        for s in fresh:
            try:
                environment = refs.environment(s)
                component = Component(environment=environment, slug=slugs.slug(s, environment), **self._values(s, refs))
                _check_cluster(component)
                _check(component)
            except (ValidationError, PermissionDenied) as exc:
                self.report.refuse("component", s.key, exc)
                continue
            rows.append(component)
            keys[id(component)] = s.key
        saved = _bulk_create(Component, rows, self.report, "component", lambda c: keys[id(c)])
        self.report.counts["component"]["created"] += len(saved)
        return {keys[id(c)]: c for c in saved}

    def _change_components(self, known, records, refs, components) -> dict[str, Component]:
        changed = {}
        for s in known:
            record, component = records[s.key], components[s.key]
            before = field_values(component)
            values = self._values(s, refs) | {"current_image": self._image_of(component, s)}
            for name, value in ((n, v) for n, v in values.items() if n in self.managed):
                setattr(component, name, value)
            after = field_values(component)
            changes = diff(before, after)
            if changes or record.gone_since is not None:
                if not self._checked(component, s.key):
                    continue
                changed[s.key] = component
                self.report.counts["component"]["updated"] += 1
                if changes:
                    self.events.append(audit_event(action="change", obj=component, changes=changes))
            else:
                self.report.counts["component"]["unchanged"] += 1
        return changed

    def _checked(self, obj, label: str, kind: str = "component") -> bool:
        try:
            _check(obj)
            if isinstance(obj, Component):
                _check_cluster(obj)
        except (ValidationError, PermissionDenied) as exc:
            self.report.refuse(kind, label, exc)
            obj.refresh_from_db()
            return False
        return True

    def _save_changed(self, model, rows: list, fields) -> None:
        if not rows:
            return
        for row in rows:
            row.updated_at = self.now
        names = [*fields, "updated_at"]
        model.objects.bulk_update(rows, names, batch_size=500)

    def _events_for_created(self, created) -> None:
        self.events += [audit_event(action="create", obj=c, changes=field_values(c)) for c in created]

    # --- images -------------------------------------------------------------------------

    def _ensure_images(self, seen: list[SeenComponent], components: dict[str, Component]) -> None:
        """Every image version seen, found or built: one query to read, one to insert."""
        wanted = {
            (components[s.key].pk, s.image.version): s.image
            for s in seen
            if s.image and s.key in components and s.mode == Mode.IMMUTABLE
        }
        # The component's own image wins over the bare version its instances name (it knows the reference).
        wanted = self._instance_images(seen, components) | wanted
        if not wanted:
            return
        existing = Image.objects.filter(
            component_id__in={pk for pk, _ in wanted}, version__in={v for _, v in wanted}
        ).only("id", "component_id", "version", "reference")
        self.images = {(i.component_id, i.version): i for i in existing}
        new = [
            Image(component_id=pk, version=version[:100], reference=image.reference[:300], built_at=self.now)
            for (pk, version), image in wanted.items()
            if (pk, version) not in self.images
        ]
        for image in Image.objects.bulk_create(new):
            self.images[(image.component_id, image.version)] = image
            self.events.append(
                audit_event(action="create", obj=image, object_repr=image.version, changes=field_values(image))
            )
        self.report.counts.setdefault("image", Counter())["created"] += len(new)

    def _instance_images(self, seen, components) -> dict:
        """Versions instances run that are not the component's current one (an instance left behind)."""
        return {
            (components[s.key].pk, i.image_version): SeenImage(i.image_version, i.image_version)
            for s in seen
            if s.key in components and s.mode == Mode.IMMUTABLE
            for i in s.instances
            if i.image_version
        }

    def _image_of(self, component: Component, s: SeenComponent) -> Image | None:
        if not s.image or s.mode != Mode.IMMUTABLE:
            return None
        return self.images.get((component.pk, s.image.version[:100]))

    def _set_new_images(self, fresh: list[SeenComponent], created: dict[str, Component]) -> None:
        for s in fresh:
            if s.key in created:
                created[s.key].current_image = self._image_of(created[s.key], s)

    # --- instances ----------------------------------------------------------------------

    def _instances(self, seen, components: dict[str, Component], records) -> None:
        fresh, changed = [], []
        for s in seen:
            component = components.get(s.key)
            if component is None:
                continue
            for i in s.instances:
                key = f"{s.key}#{i.external_id}"
                record = records.get(key)
                if record is None:
                    fresh.append((key, component, i))
                elif self._change_instance(record, component, i, key):
                    changed.append(record.instance)
        self._save_changed(Instance, changed, INSTANCE_FIELDS)
        self._create_instances(fresh, records)

    def _instance_values(self, component: Component, i: SeenInstance) -> dict:
        image = self.images.get((component.pk, i.image_version)) if i.image_version else None
        return {"state": i.state, "address": i.address[:200], "zone": i.zone[:100], "image": image}

    def _change_instance(self, record, component, i: SeenInstance, key: str) -> bool:
        instance = record.instance
        before = field_values(instance)
        for name, value in self._instance_values(component, i).items():
            setattr(instance, name, value)
        changes = diff(before, field_values(instance))
        if not changes and record.gone_since is None:
            self.report.counts["instance"]["unchanged"] += 1
            return False
        if not self._checked(instance, key, "instance"):
            return False
        self.report.counts["instance"]["updated"] += 1
        if changes:
            self.events.append(audit_event(action="change", obj=instance, changes=changes))
        return True

    def _create_instances(self, fresh, records) -> None:
        rows, keys = [], {}
        for key, component, i in fresh:
            values = self._instance_values(component, i)
            instance = Instance(component=component, external_id=i.external_id[:200], **values)
            instance.launched_at = i.launched_at or self.now
            try:
                _check(instance)
            except (ValidationError, PermissionDenied) as exc:
                self.report.refuse("instance", key, exc)
                continue
            rows.append(instance)
            keys[id(instance)] = key
        saved = _bulk_create(Instance, rows, self.report, "instance", lambda row: keys[id(row)])
        self.report.counts["instance"]["created"] += len(saved)
        self.events += [audit_event(action="create", obj=i, changes=field_values(i)) for i in saved]
        for instance in saved:
            records[keys[id(instance)]] = self._record(keys[id(instance)], ObjectKind.INSTANCE, "", instance=instance)

    # --- what vanished, and the provenance rows -----------------------------------------

    def _gone(self, records: dict, read_regions: set[str]) -> None:
        """Mark gone what a region that was read no longer holds; a region that failed proves nothing."""
        terminated = []
        for key, record in records.items():
            if record.pk is None or record.gone_since is not None or key in self._seen_keys:
                continue
            if record.region not in read_regions and EVERYWHERE not in read_regions:
                continue
            record.gone_since = self.now
            kind = "instance" if record.instance_id else "component"
            self.report.counts[kind]["gone"] += 1
            if record.instance_id and record.instance.state in LIVE_INSTANCE_STATES:
                terminated.append(record.instance)
        self._terminate(terminated)

    def _terminate(self, instances: list[Instance]) -> None:
        for instance in instances:
            before = instance.state
            instance.state = InstanceState.TERMINATED
            self.events.append(
                audit_event(
                    action="change",
                    obj=instance,
                    changes={"state": [before, instance.state]},
                    message="gone from its source",
                )
            )
        self._save_changed(Instance, instances, ("state",))

    def _record(self, key: str, kind, region: str, **target) -> DiscoveredObject:
        return DiscoveredObject(
            source=self.source, key=key, kind=kind, region=region, account=self.account, last_seen_at=self.now, **target
        )

    def _records_for(self, created: dict[str, Component], fresh: list[SeenComponent], records: dict) -> None:
        for s in fresh:
            if s.key in created:
                record = self._record(s.key, s.kind, s.region, component=created[s.key])
                record.details = s.details
                records[s.key] = record

    def _save_records(self, records: dict) -> None:
        """New rows in one INSERT; the seen ones touched by one UPDATE (bulk_update's CASE per row is
        slow at thousands of rows), those whose details changed by one bulk update; the gone by one."""
        new = [r for r in records.values() if r.pk is None]
        for r in new:
            if "#" in r.key:
                r.region = records[r.key.split("#", 1)[0]].region
        DiscoveredObject.objects.bulk_create(new)
        seen = [r for r in records.values() if r.pk and r.key in self._seen_keys]
        inserted = {id(r) for r in new}
        touched = DiscoveredObject.objects.filter(pk__in=[r.pk for r in seen if id(r) not in inserted])
        touched.update(last_seen_at=self.now, gone_since=None, **({"account": self.account} if self.account else {}))
        changed = [r for r in seen if r.key in self._seen_details and r.details != self._seen_details[r.key]]
        for r in changed:
            r.details = self._seen_details[r.key]
        DiscoveredObject.objects.bulk_update(changed, ["details"], batch_size=500)
        gone = [r.pk for r in records.values() if r.pk and r.key not in self._seen_keys and r.gone_since == self.now]
        DiscoveredObject.objects.filter(pk__in=gone).update(gone_since=self.now)


class _Slugs:
    """Component slugs, unique per environment: the source's name, else name-region; one query."""

    def __init__(self, fresh: list[SeenComponent], refs):
        wanted = {slugify(s.name)[:100] for s in fresh} | {_regional(s) for s in fresh}
        environments = {e.pk for e in refs.environments.values()}
        self.taken = set(
            Component.objects.filter(environment_id__in=environments, slug__in=wanted).values_list(
                "environment_id", "slug"
            )
        )

    def slug(self, s: SeenComponent, environment: Environment) -> str:
        for candidate in (slugify(s.name)[:100] or "unnamed", _regional(s)):
            if (environment.pk, candidate) not in self.taken:
                self.taken.add((environment.pk, candidate))
                return candidate
        raise ValidationError({"slug": f"{s.name}: a component with this slug already exists in {environment}."})


def _regional(s: SeenComponent) -> str:
    return f"{slugify(s.name)[: 100 - len(s.region) - 1]}-{s.region}"


class _References:
    """Environments, teams, systems and clusters named by tags and sources: read in one query per kind,
    the missing ones created (audited) through validated_save."""

    def __init__(self, writer: SyncWriter, seen: list[SeenComponent]):
        self.writer = writer
        default = writer.source.default_environment
        self.environments = self._ensure(Environment, {slugify(s.tags.get("environment", "")) or default for s in seen})
        self.teams = self._ensure(Team, {slugify(s.tags["team"]) for s in seen if s.tags.get("team")})
        self.systems = self._ensure(System, {slugify(s.tags["system"]) for s in seen if s.tags.get("system")})
        self.clusters = self._clusters(seen)

    def _ensure(self, model, slugs: set[str]) -> dict:
        slugs.discard("")
        found = {o.slug: o for o in model.objects.filter(slug__in=slugs)}
        for slug in sorted(slugs - set(found)):
            try:
                with transaction.atomic():
                    found[slug] = validated_save(model(slug=slug[:100], name=slug[:100]))
            except (ValidationError, PermissionDenied) as exc:
                self.writer.report.messages.append(f"{model._meta.verbose_name} {slug}: {_reason(exc)}")
        return found

    def _clusters(self, seen: list[SeenComponent]) -> dict:
        wanted = {slugify(s.cluster): s for s in seen if s.cluster and s.mode == Mode.BASTION}
        found = {c.slug: c for c in Cluster.objects.filter(slug__in=wanted)}
        for slug, s in sorted(wanted.items()):
            environment = self.environments.get(
                slugify(s.tags.get("environment", "")) or self.writer.source.default_environment
            )
            if slug in found or environment is None:
                continue
            try:
                with transaction.atomic():
                    found[slug] = validated_save(
                        Cluster(slug=slug, name=slug, engine=s.engine, environment=environment)
                    )
            except (ValidationError, PermissionDenied) as exc:
                self.writer.report.messages.append(f"cluster {slug}: {_reason(exc)}")
        return found

    def environment(self, s: SeenComponent) -> Environment:
        slug = slugify(s.tags.get("environment", "")) or self.writer.source.default_environment
        if slug not in self.environments:
            raise ValidationError({"environment": f"Environment {slug} could not be created."})
        return self.environments[slug]

    def team(self, s: SeenComponent) -> Team | None:
        return self.teams.get(slugify(s.tags.get("team", "")))

    def system(self, s: SeenComponent) -> System | None:
        return self.systems.get(slugify(s.tags.get("system", "")))

    def cluster(self, s: SeenComponent) -> Cluster | None:
        return self.clusters.get(slugify(s.cluster)) if s.cluster and s.mode == Mode.BASTION else None


def _check_cluster(component: Component) -> None:
    cluster = component.cluster
    if cluster is not None and cluster.environment_id != component.environment_id:
        raise ValidationError({"cluster": f"Cluster {cluster} lives in another environment than {component}."})


def _vendor_deadlines(seen: list[SeenComponent], components: dict[str, Component]) -> None:
    """The vendor's pending maintenance becomes patching's deadlines, replaced for what was read (a few
    queries whatever the size); the proposals are searched after the commit (estate.patching.tasks)."""
    read = {
        components[s.key].pk: s.vendor_actions for s in seen if s.vendor_actions is not None and s.key in components
    }
    deadlines.vendor_deadlines_replace(read=read, sources=[DeadlineSource.RDS, DeadlineSource.ELASTICACHE])
    deadlines.eol_deadlines_refresh()
    deadlines.proposals_search_later()
