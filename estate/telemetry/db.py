"""SQL that Django's ORM does not write for both backends: time arithmetic and UPDATE ... FROM VALUES."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection
from django.db.models import DateTimeField, Func, IntegerField, Value


class SecondsBefore(Func):
    """`moment` minus a number of seconds taken from a column: a timestamp, computed by the database.

    Comparing a timestamp column with it keeps PostgreSQL on timestamp arithmetic, several times
    cheaper over 50,000 rows than EXTRACT(EPOCH ...), which is numeric since PostgreSQL 14.
    """

    output_field = DateTimeField()

    def __init__(self, moment, seconds, **extra):
        super().__init__(Value(moment, output_field=DateTimeField()), seconds, **extra)

    def as_postgresql(self, compiler, connection, **extra_context):
        return self.as_sql(compiler, connection, template="(%(expressions)s)", arg_joiner=" - INTERVAL '1 second' * ")

    def as_sqlite(self, compiler, connection, **extra_context):
        # The same text format Django stores datetimes in, so the comparison is a string comparison.
        return self.as_sql(
            compiler,
            connection,
            template="strftime('%%%%Y-%%%%m-%%%%d %%%%H:%%%%M:%%%%f', %(expressions)s || ' seconds')",
            arg_joiner=", '-' || ",
        )


class BucketIndex(Func):
    """The number of the 5-minute (or any `seconds`) bucket a datetime falls in, since 1970."""

    output_field = IntegerField()

    def __init__(self, expression, seconds: int = 300, **extra):
        super().__init__(expression, seconds=int(seconds), **extra)

    def as_postgresql(self, compiler, connection, **extra_context):
        return self.as_sql(
            compiler, connection, template="FLOOR(EXTRACT(EPOCH FROM %(expressions)s) / %(seconds)s)::bigint"
        )

    def as_sqlite(self, compiler, connection, **extra_context):
        return self.as_sql(
            compiler,
            connection,
            # Whole seconds from strftime: julianday's floating point puts 12:05:00 at 12:04:59.99999.
            template="(CAST(strftime('%%%%s', %(expressions)s) AS INTEGER) / %(seconds)s)",
        )


def update_from_values(
    table: str,
    columns: Sequence[str],
    types: Sequence[str],
    rows: Sequence[Sequence],
    set_sql: str,
    where_sql: str = "TRUE",
    *,
    returning: bool = False,
) -> list:
    """UPDATE table SET ... FROM (rows) v WHERE table.id = v.id AND ...: one statement per 10,000 rows
    on PostgreSQL (unnest of one array per column), per 1,000 on SQLite (VALUES).

    `columns` names the VALUES columns, the first being the key; `types` their PostgreSQL types
    (SQLite needs none); `set_sql` and `where_sql` refer to them as v.<name>. Rows go in key order
    so that concurrent batches lock rows in one order and cannot deadlock. Datetimes must already
    be adapted (connection.ops.adapt_datetimefield_value). Returns the keys updated when asked.
    """
    if not rows:
        return []
    key = columns[0]
    tail = f" RETURNING {table}.{key}" if returning else ""
    where = f"{table}.{key} = v.{key} AND ({where_sql})"
    ordered = sorted(rows, key=lambda r: r[0])
    done: list = []
    with connection.cursor() as cursor:
        for sql, params in _update_statements(table, columns, types, ordered, set_sql, where, tail):
            cursor.execute(sql, params)
            if returning:
                done.extend(row[0] for row in cursor.fetchall())
    return done


def _update_statements(table, columns, types, rows, set_sql, where, tail):
    names = ", ".join(columns)
    if connection.vendor == "postgresql":
        # One array per column: a handful of parameters whatever the number of rows, and a plan
        # that joins by primary key instead of hashing the table.
        arrays = ", ".join(f"%s::{t}[]" for t in types)
        sql = f"UPDATE {table} SET {set_sql} FROM unnest({arrays}) AS v({names}) WHERE {where}{tail}"  # noqa: S608
        for start in range(0, len(rows), 10000):
            chunk = rows[start : start + 10000]
            yield sql, [list(column) for column in zip(*chunk, strict=True)]
        return
    placeholder = "(" + ", ".join(["%s"] * len(columns)) + ")"
    for start in range(0, len(rows), 1000):
        chunk = rows[start : start + 1000]
        values = ", ".join([placeholder] * len(chunk))
        sql = f"WITH v({names}) AS (VALUES {values}) UPDATE {table} SET {set_sql} FROM v WHERE {where}{tail}"  # noqa: S608
        yield sql, [value for row in chunk for value in row]


def insert_rows(model, columns: Sequence[str], rows: Sequence[Sequence]) -> None:
    """Insert many rows: COPY on PostgreSQL, bulk_create elsewhere. No per-row model save."""
    if not rows:
        return
    if connection.vendor == "postgresql":
        sql = f"COPY {model._meta.db_table} ({', '.join(columns)}) FROM STDIN"
        with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)
        return
    names = [model._meta.get_field(c.removesuffix("_id")).attname if c.endswith("_id") else c for c in columns]
    model.objects.bulk_create([model(**dict(zip(names, row, strict=True))) for row in rows], batch_size=2000)
