from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from estate.inventory.models import System, Team
from estate.telemetry.models import IngestToken
from estate.telemetry.services import ingest_token_create


class Command(BaseCommand):
    help = (
        "Create an ingest token (it may write telemetry and nothing else) and print its secret once. "
        "Say what it may write about: --team and/or --system (repeatable, by slug), or --estate."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="What sends with it, e.g. 'vector-prod'.")
        parser.add_argument("--team", action="append", default=[], metavar="SLUG", help="A team's components.")
        parser.add_argument("--system", action="append", default=[], metavar="SLUG", help="A system's components.")
        parser.add_argument("--estate", action="store_true", help="Every component (an estate-wide shipper).")
        parser.add_argument(
            "--map",
            action="append",
            default=[],
            metavar="KEY=NAME[,NAME]",
            help="Which resource attributes (OTLP) or labels (Prometheus) name the component, environment or "
            "instance, first found wins, e.g. --map component=app --map instance=host.name,k8s.pod.name.",
        )

    def handle(self, *args, name: str, team: list[str], system: list[str], estate: bool, map: list[str], **options):
        if IngestToken.objects.filter(name=name).exists():
            raise CommandError(
                f"An ingest token named {name!r} exists already; revoke it in the admin or pick another name."
            )
        teams, systems = _named(Team, team, "--team"), _named(System, system, "--system")
        try:
            _, raw = ingest_token_create(
                name=name, whole_estate=estate, teams=teams, systems=systems, mapping=_mapping(map)
            )
        except ValidationError as exc:
            hint = " (use --team SLUG, --system SLUG or --estate)" if "whole_estate" in exc.message_dict else ""
            raise CommandError(" ".join(exc.messages) + hint) from exc
        self.stdout.write(raw)
        scope = "every component" if estate else ", ".join([f"team {t.slug}" for t in teams] +
                                                          [f"system {s.slug}" for s in systems])  # fmt: skip
        self.stderr.write(
            f"Ingest token {name!r} created for {scope}; send it as 'Authorization: Bearer <token>'. "
            "It is not shown again."
        )


def _named(model, slugs: list[str], option: str) -> list:
    found = {obj.slug: obj for obj in model.objects.filter(slug__in=slugs)}
    missing = [slug for slug in slugs if slug not in found]
    if missing:
        raise CommandError(f"{option}: no {model._meta.verbose_name} {', '.join(missing)}.")
    return [found[slug] for slug in dict.fromkeys(slugs)]


def _mapping(options: list[str]) -> dict[str, list[str]]:
    mapping = {}
    for option in options:
        key, _, names = option.partition("=")
        if not names:
            raise CommandError(f"--map {option}: write KEY=NAME[,NAME], e.g. --map component=app.")
        mapping[key.strip()] = [n.strip() for n in names.split(",") if n.strip()]
    return mapping
