"""On PostgreSQL, telemetry_sample becomes a table PARTITIONED BY RANGE (ts), one partition per UTC day
plus a DEFAULT one (estate/telemetry/partitions.py keeps them), so the retention drops whole days
instead of deleting millions of rows. SQLite keeps the plain table; the model does not change.

A unique constraint on a partitioned table must include the partition key, so the primary key
becomes (id, ts); id still comes from one sequence and stays unique, and nothing points at a sample.
PostgreSQL 15 has no identity column on a partitioned table: id takes its default from a sequence
owned by the column, which Django resets and TRUNCATE ... RESTART IDENTITY restarts like an identity.
The rows are copied over inside the migration's transaction.
"""

from datetime import UTC, datetime, time, timedelta

from django.conf import settings
from django.db import migrations

DAYS_AHEAD = 3


def _bound(day) -> str:
    return f"'{datetime.combine(day, time(), tzinfo=UTC).isoformat()}'::timestamptz"


def partition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    run = schema_editor.execute
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = 'telemetry_sample'::regclass AND contype = 'f'"
        )
        fk_name = cursor.fetchone()[0]
        cursor.execute(
            "SELECT GREATEST(COALESCE(pg_sequence_last_value(pg_get_serial_sequence('telemetry_sample', 'id')), 0), "
            "COALESCE((SELECT MAX(id) FROM telemetry_sample), 0))"
        )
        last_id = cursor.fetchone()[0]
    run("CREATE TABLE telemetry_sample_new (LIKE telemetry_sample INCLUDING DEFAULTS) PARTITION BY RANGE (ts)")
    run("CREATE TABLE telemetry_sample_default PARTITION OF telemetry_sample_new DEFAULT")
    today = datetime.now(UTC).date()
    day = today - timedelta(days=settings.TELEMETRY_RETENTION_DAYS)
    while day <= today + timedelta(days=DAYS_AHEAD):
        run(
            f"CREATE TABLE telemetry_sample_p{day:%Y%m%d} PARTITION OF telemetry_sample_new "
            f"FOR VALUES FROM ({_bound(day)}) TO ({_bound(day + timedelta(days=1))})"
        )
        day += timedelta(days=1)
    # Rows before the indexes: one index build per partition instead of row-by-row upkeep.
    run("INSERT INTO telemetry_sample_new SELECT * FROM telemetry_sample")
    run("DROP TABLE telemetry_sample")  # with its identity sequence, indexes and constraints
    run("ALTER TABLE telemetry_sample_new RENAME TO telemetry_sample")
    run("CREATE SEQUENCE telemetry_sample_id_seq OWNED BY telemetry_sample.id")
    run(f"SELECT setval('telemetry_sample_id_seq', {max(last_id, 1)}, {'true' if last_id else 'false'})")
    run("ALTER TABLE telemetry_sample ALTER COLUMN id SET DEFAULT nextval('telemetry_sample_id_seq')")
    run("ALTER TABLE telemetry_sample ADD CONSTRAINT telemetry_sample_pkey PRIMARY KEY (id, ts)")
    run(
        f"ALTER TABLE telemetry_sample ADD CONSTRAINT {fk_name} FOREIGN KEY (component_id) "
        "REFERENCES inventory_component (id) DEFERRABLE INITIALLY DEFERRED"
    )
    run("CREATE INDEX sample_component_name_ts ON telemetry_sample (component_id, name, ts)")
    run("CREATE INDEX sample_name_ts ON telemetry_sample (name, ts)")
    run("CREATE INDEX sample_ts_brin ON telemetry_sample USING brin (ts) WITH (pages_per_range = 32)")


def unpartition(apps, schema_editor):
    """Back to the plain table of 0001 + 0002, rows and all."""
    if schema_editor.connection.vendor != "postgresql":
        return
    run = schema_editor.execute
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(pg_sequence_last_value('telemetry_sample_id_seq'), 0)")
        last_id = cursor.fetchone()[0]
    run("CREATE TABLE telemetry_sample_old AS SELECT * FROM telemetry_sample")
    run("DROP TABLE telemetry_sample")  # with every partition
    schema_editor.create_model(apps.get_model("telemetry", "Sample"))
    columns = "id, name, value, unit, ts, component_id, instance_id"
    run(f"INSERT INTO telemetry_sample ({columns}) SELECT {columns} FROM telemetry_sample_old")  # noqa: S608
    run("DROP TABLE telemetry_sample_old")
    if last_id:
        run(f"SELECT setval(pg_get_serial_sequence('telemetry_sample', 'id'), {last_id})")
    run("CREATE INDEX sample_ts_brin ON telemetry_sample USING brin (ts) WITH (pages_per_range = 32)")


class Migration(migrations.Migration):
    dependencies = [("telemetry", "0005_pending_evaluation")]

    operations = [migrations.RunPython(partition, unpartition)]
