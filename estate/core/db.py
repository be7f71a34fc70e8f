"""Small database expressions that Django does not ship, written once for both backends."""

from __future__ import annotations

from django.db.models import DateTimeField, Func


class DaysAgo(Func):
    """The moment a number of days (an integer column) before now, computed by the database."""

    output_field = DateTimeField()

    def as_postgresql(self, compiler, connection, **extra_context):
        return self.as_sql(compiler, connection, template="(NOW() - (%(expressions)s) * INTERVAL '1 day')")

    def as_sqlite(self, compiler, connection, **extra_context):
        # SQLite stores datetimes as 'YYYY-MM-DD HH:MM:SS[.ffffff]' text, which this format compares with.
        return self.as_sql(
            compiler,
            connection,
            template="strftime('%%%%Y-%%%%m-%%%%d %%%%H:%%%%M:%%%%f', 'now', -(%(expressions)s) || ' days')",
        )
