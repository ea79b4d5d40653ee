"""Fast inserts for intake paths: PostgreSQL COPY instead of a compiled multi-row INSERT.

`bulk_create` spends most of its time compiling SQL for thousands of parameters; COPY streams
the rows. Ids come from the table's own sequence first, so related rows (a lead's transitions)
can point at them in the same pass. Like `bulk_create`, this skips `save()`, so it checks the
tenancy contract itself: every row must belong to the current organization.
"""

import io
from operator import attrgetter

from django.db import connection, models
from django.utils import timezone

from revops.tenancy.context import TenantScopeError, current_organization

# Field types whose stored attribute psycopg adapts exactly as Django would prepare it (str, int,
# bool, float, aware datetime, date, a foreign key's id, None): read as is. Any other field
# (JSON, arrays, decimals, auto_now stamps...) goes through Django's own preparation.
_RAW_TYPES = (
    models.CharField, models.TextField, models.IntegerField, models.BooleanField,
    models.FloatField, models.ForeignKey, models.DateField,
)  # fmt: skip


def _value_readers(fields, db):
    readers = []
    for field in fields:
        stamped = getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
        if isinstance(field, _RAW_TYPES) and not stamped:
            readers.append(attrgetter(field.attname))
        else:
            readers.append(lambda obj, f=field: f.get_db_prep_save(f.pre_save(obj, True), db))
    return readers


def copy_insert(model, objects: list) -> None:
    if not objects:
        return
    organization_id = current_organization().pk
    if any(obj.organization_id != organization_id for obj in objects):
        raise TenantScopeError(f"copy_insert of {model.__name__} rows of another organization.")
    meta = model._meta
    quote = connection.ops.quote_name
    fields = list(meta.concrete_fields)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [meta.db_table, meta.pk.column, len(objects)],
        )
        for obj, (new_id,) in zip(objects, cursor.fetchall(), strict=True):
            obj.pk = new_id
        columns = ", ".join(quote(f.column) for f in fields)
        readers = _value_readers(fields, cursor.db)
        with cursor.copy(f"COPY {quote(meta.db_table)} ({columns}) FROM STDIN") as copy:
            for obj in objects:
                copy.write_row([read(obj) for read in readers])
    for obj in objects:
        obj._state.adding = False
        obj._state.db = connection.alias


def planner_statistics_refresh(*models) -> None:
    """ANALYZE the models' tables after a bulk load. Autovacuum would, later; until it does the
    planner believes the tables nearly empty and picks nested loops that scan a freshly loaded
    table once per row of another (seen: 2.6 s instead of 18 ms for a metrics query after an
    import). Inside a transaction ANALYZE also samples the transaction's own new rows."""
    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")


def copy_out_csv(query: str, params: dict) -> io.BytesIO:
    """Stream a query's rows out of PostgreSQL as CSV (COPY TO STDOUT), rewound; empty when
    there is no row. Through psycopg's own cursor: Django's debug cursor (DEBUG on, as under
    `make run`) has a copy() that takes no parameters."""
    buffer = io.BytesIO()
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY ({query}) TO STDOUT WITH (FORMAT csv)", params) as copy,
    ):
        for block in copy:
            buffer.write(block)
    buffer.seek(0)
    return buffer


FRAME_CHUNK_ROWS = 200_000  # rows per CSV chunk written to COPY: bounds the text held at once


def copy_frame(model, frame, *, text_columns: tuple[str, ...] = ()) -> None:
    """COPY a pandas DataFrame's rows into the model's table as CSV chunks, as the current
    organization's, stamped now; ids come from the table's identity default. The frame's
    columns are the model's column names; NaN is NULL. CSV reads an unquoted empty field as
    NULL too, so `text_columns` (blank strings, never NULL) are read as empty strings."""
    organization_id = current_organization().pk
    stamp = timezone.now().isoformat()
    columns = ["organization_id", "created_at", "updated_at", *frame.columns]
    quote = connection.ops.quote_name
    options = "FORMAT csv"
    if text_columns:
        options += f", FORCE_NOT_NULL ({', '.join(quote(c) for c in text_columns)})"
    statement = (f"COPY {quote(model._meta.db_table)} ({', '.join(quote(c) for c in columns)})"
                 f" FROM STDIN WITH ({options})")  # fmt: skip
    with connection.cursor() as cursor, cursor.copy(statement) as copy:
        for offset in range(0, len(frame), FRAME_CHUNK_ROWS):
            chunk = frame.iloc[offset : offset + FRAME_CHUNK_ROWS].assign(
                organization_id=organization_id, created_at=stamp, updated_at=stamp
            )
            copy.write(chunk[columns].to_csv(header=False, index=False))
