"""manage.py catalog plan PATH | apply PATH [--prune] | export [--format yaml|csv]."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from estate.catalog.errors import CatalogError
from estate.catalog.export import export_csv, export_yaml
from estate.catalog.plan import CREATE, PRUNE, UNCHANGED, UPDATE, Plan
from estate.catalog.services import catalog_apply, catalog_plan
from estate.catalog.spec import parse, read_path
from estate.core.errors import ApplicationError

SIGNS = {CREATE: "+", UPDATE: "~", UNCHANGED: "=", PRUNE: "-"}
TO_DO = {CREATE: "to create", UPDATE: "to update", UNCHANGED: "unchanged", PRUNE: "to prune"}
DONE = {CREATE: "created", UPDATE: "updated", UNCHANGED: "unchanged", PRUNE: "pruned"}


class Command(BaseCommand):
    help = "Catalog as code: plan or apply a catalog file or folder, or export the inventory as one."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        for name in ("plan", "apply"):
            command = sub.add_parser(name, help=f"{name} a catalog (a .yaml/.csv file or a folder of them)")
            command.add_argument("path")
            command.add_argument("--prune", action="store_true", help="delete what the catalog no longer lists")
            command.add_argument("--json", action="store_true", help="print the plan as JSON")
        export = sub.add_parser("export", help="print the inventory as a catalog")
        export.add_argument("--format", choices=("yaml", "csv"), default="yaml")
        export.add_argument("--kind", choices=("components", "instances"), default="components", help="for CSV")
        export.add_argument("--no-instances", action="store_true", help="for YAML: leave instances out")

    def handle(self, *args, action: str, **options):
        if action == "export":
            self._export(options)
            return
        try:
            catalog = parse(read_path(options["path"]))
            if action == "plan":
                plan = catalog_plan(catalog=catalog, prune=options["prune"])
            else:
                plan = catalog_apply(catalog=catalog, prune=options["prune"])
        except OSError as exc:
            raise CommandError(f"Cannot read {options['path']}: {exc.strerror}") from exc
        except CatalogError as exc:
            raise CommandError(
                "\n".join(["The catalog was refused; nothing was applied."] + [str(p) for p in exc.problems])
            ) from exc
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        if options["json"]:
            self.stdout.write(json.dumps(plan.as_dict() | {"applied": action == "apply"}, indent=2, default=str))
        else:
            self._print(plan, applied=action == "apply")

    def _export(self, options) -> None:
        if options["format"] == "csv":
            self.stdout.write(export_csv(options["kind"]), ending="")
        else:
            self.stdout.write(export_yaml(instances=not options["no_instances"]), ending="")

    def _print(self, plan: Plan, *, applied: bool) -> None:
        for item in plan.items:
            if item.action == UNCHANGED:
                continue
            action = item.action if item.action != PRUNE or plan.prune else "would be pruned (--prune)"
            self.stdout.write(f"{SIGNS[item.action]} {item.kind} {item.label}: {action}")
            for name, (before, after) in item.changes.items():
                self.stdout.write(f"    {name}: {_show(before)} → {_show(after)}")
        counts = plan.summary()
        words = DONE if applied else TO_DO
        if not plan.prune:
            words = words | {PRUNE: "would be pruned with --prune"}
        line = ", ".join(f"{counts[action]} {words[action]}" for action in (CREATE, UPDATE, UNCHANGED, PRUNE))
        verdict = "Applied" if applied else "Plan"
        self.stdout.write(self.style.SUCCESS(f"{verdict} ({plan.catalog.name}): {line}."))


def _show(value) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)
