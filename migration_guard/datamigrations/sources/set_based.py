"""Template source of backfill, copy_field and merge_fields (values.SetBased)."""

from migration_guard.datamigrations.sources.names import __VALUE__, CONDITION
from migration_guard.datamigrations.sources.reset_values import reset_values
from migration_guard.datamigrations.sources.update_in_batches import update_in_batches

# ---- generated code ----
FIELD = "__FIELD__"
# __CONDITION__


def new_value():
    """__SAID__"""
    return __VALUE__


def forwards(apps, schema_editor):
    """__SUMMARY__."""
    __MODEL__ = apps.get_model("__APP_LABEL__", "__MODEL__")
    rows = __MODEL__._base_manager.using(schema_editor.connection.alias)
    update_in_batches(rows, {FIELD: new_value()}, "forwards", CONDITION)


def backwards(apps, schema_editor):
    """Set __FIELD__ back to __RESET__."""
    __MODEL__ = apps.get_model("__APP_LABEL__", "__MODEL__")
    rows = __MODEL__._base_manager.using(schema_editor.connection.alias)
    update_in_batches(rows, reset_values(__MODEL__, [FIELD]), "backwards", CONDITION)
