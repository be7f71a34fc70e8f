from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from estate.access import roles
from estate.catalog.demo import load_demo_inventory
from estate.discovery.demo import load_demo_discovery
from estate.inventory.models import Team
from estate.operations.demo import load_demo_operations
from estate.patching.demo import load_demo_patching
from estate.telemetry.demo import load_demo_telemetry


class Command(BaseCommand):
    help = "Load (or refresh) the demo estate and the demo login. Safe to run again."

    @transaction.atomic
    def handle(self, *args, **options):
        # The inventory from the example catalog, then each app adds its part on top, lowest app first.
        count = load_demo_inventory()
        load_demo_patching()
        load_demo_telemetry()
        load_demo_operations()
        count += load_demo_discovery()
        _demo_user(settings.DEMO_USERNAME, is_staff=True, is_superuser=True)
        # One person per role, to see what each may do; the operator only looks after one team.
        roles.grant(_demo_user("demo-viewer"), roles.VIEWER)
        team = Team.objects.order_by("slug").first()
        roles.grant(_demo_user("demo-operator"), roles.OPERATOR, teams=[team] if team else [])
        self.stdout.write(self.style.SUCCESS(f"Demo estate ready: {count} components."))
        self.stdout.write(f"Demo login: {settings.DEMO_USERNAME} / {settings.DEMO_PASSWORD}")
        scope = f" of team {team.slug}" if team else ""
        self.stdout.write(f"Also demo-viewer (viewer) and demo-operator (operator{scope}), same password.")


def _demo_user(username: str, **flags):
    user, created = get_user_model().objects.get_or_create(username=username, defaults=flags)
    if created:
        user.set_password(settings.DEMO_PASSWORD)
        user.save()
    return user
