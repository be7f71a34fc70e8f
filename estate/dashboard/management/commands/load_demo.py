from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from estate.inventory.demo import load_demo_estate
from estate.operations.demo import load_demo_operations
from estate.patching.demo import load_demo_patching
from estate.telemetry.demo import load_demo_telemetry


class Command(BaseCommand):
    help = "Load (or refresh) the demo estate and the demo login. Safe to run again."

    @transaction.atomic
    def handle(self, *args, **options):
        # Each app adds its part of the demo on top of the inventory, lowest app first.
        count = load_demo_estate()
        load_demo_patching()
        load_demo_telemetry()
        load_demo_operations()
        user, created = get_user_model().objects.get_or_create(
            username=settings.DEMO_USERNAME, defaults={"is_staff": True, "is_superuser": True}
        )
        if created:
            user.set_password(settings.DEMO_PASSWORD)
            user.save()
        self.stdout.write(self.style.SUCCESS(f"Demo estate ready: {count} components."))
        self.stdout.write(f"Demo login: {settings.DEMO_USERNAME} / {settings.DEMO_PASSWORD}")
