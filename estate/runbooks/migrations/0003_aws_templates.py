from django.db import migrations

from estate.runbooks.shipped import AWS_RDS, ELASTICACHE_REDIS
from estate.runbooks.steps import normalise


def create(apps, schema_editor):
    template = apps.get_model("runbooks", "RunbookTemplate")
    for item in (AWS_RDS, ELASTICACHE_REDIS):
        defaults = {"executor": item["executor"], "description": item["description"], "steps": normalise(item["steps"])}
        template.objects.get_or_create(name=item["name"], defaults=defaults)


class Migration(migrations.Migration):
    dependencies = [("runbooks", "0002_shipped_templates")]
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
