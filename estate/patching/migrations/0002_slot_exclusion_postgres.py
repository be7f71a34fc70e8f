"""On PostgreSQL, two slots of one component may not overlap: the database guards the first rule.

The extension and the constraint exist on PostgreSQL only; on SQLite this migration does nothing
and the rule is the service's alone.
"""

from django.db import migrations


class PostgresOnlySQL(migrations.RunSQL):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    dependencies = [("patching", "0001_initial")]

    operations = [
        PostgresOnlySQL("CREATE EXTENSION IF NOT EXISTS btree_gist", reverse_sql=migrations.RunSQL.noop),
        PostgresOnlySQL(
            'ALTER TABLE patching_slot ADD CONSTRAINT slot_no_overlap_per_component '
            'EXCLUDE USING gist (component_id WITH =, tstzrange("start", "end", \'[)\') WITH &&)',
            reverse_sql="ALTER TABLE patching_slot DROP CONSTRAINT slot_no_overlap_per_component",
        ),
    ]
