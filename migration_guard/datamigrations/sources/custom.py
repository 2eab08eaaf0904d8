"""Template source of custom (values.Custom)."""

from migration_guard.datamigrations.sources.change_in_batches import change_in_batches
from migration_guard.datamigrations.sources.names import __FIELDS__, CONDITION, READ

# ---- generated code ----
FIELDS = __FIELDS__  # what forwards_row() and backwards_row() change
# __READ__
# __CONDITION__


def forwards_row(obj):
    """Change one __MODEL__ in place; return True if it changed, else False.

    Loaded: __LOADED__. Only FIELDS are written back.
    """
    # TODO: fill in, e.g. obj.field = ...; return True
    raise NotImplementedError(f"Fill in forwards_row() in {__name__}.")


def backwards_row(obj):
    """Undo forwards_row() on one __MODEL__; return True if it changed."""
    # TODO: fill in
    raise NotImplementedError(f"Fill in backwards_row() in {__name__}.")


def forwards(apps, schema_editor):
    """Run forwards_row() on every __MODEL____MATCHING__."""
    __MODEL__ = apps.get_model("__APP_LABEL__", "__MODEL__")
    rows = selected(__MODEL__, schema_editor)
    change_in_batches(rows, FIELDS, forwards_row, "forwards")


def backwards(apps, schema_editor):
    """Run backwards_row() on every __MODEL____MATCHING__."""
    __MODEL__ = apps.get_model("__APP_LABEL__", "__MODEL__")
    rows = selected(__MODEL__, schema_editor)
    change_in_batches(rows, FIELDS, backwards_row, "backwards")


def selected(model, schema_editor):
    """The rows to change (CONDITION), with the READ fields loaded."""
    rows = model._base_manager.using(schema_editor.connection.alias)
    if CONDITION is not None:
        rows = rows.filter(CONDITION)
    return rows if READ is None else rows.only(*READ)
