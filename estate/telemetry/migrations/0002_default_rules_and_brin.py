"""Default metric rules per category, and on PostgreSQL a BRIN index for the samples' time ranges."""

from django.db import migrations

from estate.telemetry.choices import DEFAULT_RULES


def add_default_rules(apps, schema_editor):
    MetricRule = apps.get_model("telemetry", "MetricRule")
    for category, rules in DEFAULT_RULES.items():
        for metric, aggregation, window, comparison, warn, critical, unit in rules:
            MetricRule.objects.get_or_create(
                component=None,
                category=category,
                metric=metric,
                defaults={
                    "aggregation": aggregation,
                    "window_seconds": window,
                    "comparison": comparison,
                    "warn": warn,
                    "critical": critical,
                    "unit": unit,
                },
            )


def remove_default_rules(apps, schema_editor):
    apps.get_model("telemetry", "MetricRule").objects.filter(component=None).delete()


def brin_on(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        # Samples arrive in time order: a BRIN index is a few pages for any number of rows, and
        # makes the purge's and the rollup's ts ranges cheap without the cost of a B-tree on ts.
        schema_editor.execute(
            "CREATE INDEX IF NOT EXISTS sample_ts_brin ON telemetry_sample USING brin (ts) WITH (pages_per_range = 32)"
        )


def brin_off(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS sample_ts_brin")


class Migration(migrations.Migration):
    dependencies = [("telemetry", "0001_initial")]

    operations = [
        migrations.RunPython(add_default_rules, remove_default_rules),
        migrations.RunPython(brin_on, brin_off),
    ]
