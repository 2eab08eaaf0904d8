"""Template source of move_rows (rows.MoveRows)."""

from django.core.management.color import no_style

from migration_guard.datamigrations.sources.move_in_batches import move_in_batches
from migration_guard.datamigrations.sources.names import __FIELDS__, CONDITION

# ---- generated code ----
# The columns copied, primary key included, so that backwards restores the
# rows as they were.
FIELDS = __FIELDS__
# __CONDITION__


def forwards(apps, schema_editor):
    """__SUMMARY____MATCHING__."""
    __SRC__ = apps.get_model("__SOURCE_APP__", "__SOURCE__")
    __DST__ = apps.get_model("__TARGET_APP__", "__TARGET__")
    move(schema_editor, __SRC__, __DST__, "forwards", refuse_existing=True)


def backwards(apps, schema_editor):
    """Move the __TARGET_LABEL__ rows__MATCHING__ back to __SOURCE_LABEL__."""
    __SRC__ = apps.get_model("__SOURCE_APP__", "__SOURCE__")
    __DST__ = apps.get_model("__TARGET_APP__", "__TARGET__")
    move(schema_editor, __DST__, __SRC__, "backwards", refuse_existing=False)


def move(schema_editor, source, target, label, refuse_existing):
    """Move the rows of source that match CONDITION to target, keys and all."""
    alias = schema_editor.connection.alias
    rows = source._base_manager.using(alias)
    destination = target._base_manager.using(alias)
    if CONDITION is not None:
        rows = rows.filter(CONDITION)
    there = destination if CONDITION is None else destination.filter(CONDITION)
    if refuse_existing and there.exists():
        raise ValueError(
            f"{target._meta.label} already has rows that match: backwards moves "
            "back every matching row, so it would move those too. Move or delete "
            "them first."
        )

    def convert(obj):
        return target(**{name: getattr(obj, name) for name in FIELDS})

    move_in_batches(rows, convert, destination, label)
    reset_sequence(target, schema_editor)


def reset_sequence(model, schema_editor):
    """Rows were inserted with their primary keys: move the key sequence past
    them (PostgreSQL; the other databases need nothing)."""
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), [model]):
            cursor.execute(sql)
