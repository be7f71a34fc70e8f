"""manage.py eol load FILE: replace the engine end-of-life table with a file's rows (refused whole if one is wrong)."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from estate.patching import deadlines


class Command(BaseCommand):
    help = "Load engine end-of-life dates from a YAML file (estate/patching/data/eol.yaml is shipped)."

    def add_arguments(self, parser):
        commands = parser.add_subparsers(dest="command", required=True)
        load = commands.add_parser("load", help="Replace the table with the file's rows; refuse a bad file whole.")
        load.add_argument("file", nargs="?", default=str(deadlines.DEFAULT_EOL_FILE))
        commands.add_parser("refresh", help="Recompute end-of-life deadlines and search stale proposals again.")

    def handle(self, *args, command: str, **options):
        if command == "refresh":
            self.stdout.write(json.dumps(deadlines.deadlines_refresh(), indent=2))
            return
        path = Path(options["file"])
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"{path}: cannot be read ({exc}).") from exc
        try:
            counts = deadlines.eol_load(text=text)
        except ValidationError as exc:
            raise CommandError(f"{path}: refused, nothing loaded. {' '.join(exc.messages)}") from exc
        self.stdout.write(json.dumps(counts, indent=2))
