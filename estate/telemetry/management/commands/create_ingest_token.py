from django.core.management.base import BaseCommand, CommandError

from estate.core.services import validated_save
from estate.telemetry.models import IngestToken


class Command(BaseCommand):
    help = "Create an ingest token (it may write telemetry and nothing else) and print its secret once."

    def add_arguments(self, parser):
        parser.add_argument("name", help="What sends with it, e.g. 'vector-prod'.")

    def handle(self, *args, name: str, **options):
        if IngestToken.objects.filter(name=name).exists():
            raise CommandError(
                f"An ingest token named {name!r} exists already; revoke it in the admin or pick another name."
            )
        token = IngestToken(name=name)
        raw = token.set_new_secret()
        validated_save(token)
        self.stdout.write(raw)
        self.stderr.write(
            f"Ingest token {name!r} created; send it as 'Authorization: Bearer <token>'. It is not shown again."
        )
