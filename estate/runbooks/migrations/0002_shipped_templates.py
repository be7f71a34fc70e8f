from django.db import migrations

from estate.runbooks.shipped import SHIPPED
from estate.runbooks.steps import normalise


def create(apps, schema_editor):
    template = apps.get_model("runbooks", "RunbookTemplate")
    for item in SHIPPED:
        defaults = {"executor": item["executor"], "description": item["description"], "steps": normalise(item["steps"])}
        template.objects.get_or_create(name=item["name"], defaults=defaults)


class Migration(migrations.Migration):
    dependencies = [("runbooks", "0001_initial")]
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
