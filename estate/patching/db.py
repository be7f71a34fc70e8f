"""A moment a number of days (an integer column) from a given time, for both backends.

The base time comes from Python rather than the database's clock, so schedules read the same
"now" as the rest of the request (and as tests that travel in time).
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.db.models import DateTimeField, Func, Value


class DaysFrom(Func):
    output_field = DateTimeField()

    def __init__(self, base: datetime, days, **extra):
        super().__init__(Value(base.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")), days, **extra)

    def as_postgresql(self, compiler, connection, **extra_context):
        (base_sql, days_sql), params = self._compiled(compiler)
        return f"((({base_sql})::timestamp + ({days_sql}) * INTERVAL '1 day') AT TIME ZONE 'UTC')", params

    def _compiled(self, compiler):
        compiled = [compiler.compile(expression) for expression in self.source_expressions]
        return [sql for sql, _ in compiled], tuple(p for _, params in compiled for p in params)

    def as_sqlite(self, compiler, connection, **extra_context):
        (base_sql, days_sql), params = self._compiled(compiler)
        return f"strftime('%%Y-%%m-%%d %%H:%%M:%%f', {base_sql}, ({days_sql}) || ' days')", params
