"""manage.py discovery sync NAME | prune [--source NAME]"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from estate.discovery import services
from estate.discovery.choices import RunState
from estate.discovery.models import DiscoverySource


class Command(BaseCommand):
    help = "Sync a discovery source now, or prune what has been gone longer than DISCOVERY_PRUNE_AFTER_DAYS."

    def add_arguments(self, parser):
        commands = parser.add_subparsers(dest="command", required=True)
        sync = commands.add_parser("sync", help="Read the source and write what it holds (here, not on a worker).")
        sync.add_argument("name")
        prune = commands.add_parser("prune", help="Delete what has been gone for longer than the grace period.")
        prune.add_argument("--source", default=None)

    def handle(self, *args, command: str, **options):
        if command == "sync":
            self._sync(_source(options["name"]))
            return
        name = options["source"]
        answer = services.discovery_prune(source=_source(name) if name else None)
        self.stdout.write(json.dumps(answer, indent=2))

    def _sync(self, source: DiscoverySource) -> None:
        run = services.sync_now(source=source)
        summary = {
            "run": run.pk, "state": run.state, "duration_seconds": run.duration_seconds, "created": run.created,
            "updated": run.updated, "gone": run.gone, "unchanged": run.unchanged, "errors": run.errors,
            "report": run.report, "region_errors": run.region_errors, "messages": run.messages[:20],
        }  # fmt: skip
        self.stdout.write(json.dumps(summary, indent=2))
        if run.state in (RunState.FAILED, RunState.REFUSED):
            raise CommandError(f"Sync {run.state}.")


def _source(name: str) -> DiscoverySource:
    try:
        return DiscoverySource.objects.get(name=name)
    except DiscoverySource.DoesNotExist as exc:
        names = ", ".join(DiscoverySource.objects.values_list("name", flat=True)) or "none"
        raise CommandError(f"No discovery source {name}; the sources are: {names}.") from exc
