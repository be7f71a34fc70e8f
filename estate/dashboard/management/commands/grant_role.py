from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from estate.access import roles
from estate.audit.context import acting_as
from estate.inventory.models import System, Team


class Command(BaseCommand):
    help = "Give a person a role (viewer, operator, admin), optionally limited to some teams or systems."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("role", choices=list(roles.ROLES))
        parser.add_argument("--team", action="append", default=[], help="team slug (repeatable)")
        parser.add_argument("--system", action="append", default=[], help="system slug (repeatable)")

    @transaction.atomic
    def handle(self, *args, username, role, team, system, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user {username!r}; create it first (manage.py createuser / the admin site).")
        teams = _by_slug(Team, team)
        systems = _by_slug(System, system)
        with acting_as("manage.py grant_role", via="command"):  # the trail names the command
            roles.grant(user, role, teams=teams, systems=systems)
        where = ", ".join([*(f"team {t.slug}" for t in teams), *(f"system {s.slug}" for s in systems)])
        self.stdout.write(self.style.SUCCESS(f"{username} is now {role}" + (f" of {where}." if where else ".")))


def _by_slug(model, slugs: list[str]) -> list:
    found = list(model.objects.filter(slug__in=slugs))
    if missing := sorted(set(slugs) - {obj.slug for obj in found}):
        raise CommandError(f"No {model._meta.verbose_name} with slug {', '.join(missing)}.")
    return found
