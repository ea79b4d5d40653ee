"""Fast inserts for intake paths: PostgreSQL COPY instead of a compiled multi-row INSERT.

`bulk_create` spends most of its time compiling SQL for thousands of parameters; COPY streams
the rows. Ids come from the table's own sequence first, so related rows (a lead's transitions)
can point at them in the same pass. Like `bulk_create`, this skips `save()`, so it checks the
tenancy contract itself: every row must belong to the current organization.
"""

from operator import attrgetter

from django.db import connection, models

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
