"""Template source of split_field (values.SplitField)."""

from migration_guard.datamigrations.sources.change_in_batches import change_in_batches
from migration_guard.datamigrations.sources.names import (
    __SEPARATOR__,
    __TARGETS__,
    CONDITION,
)
from migration_guard.datamigrations.sources.reset_values import reset_values
from migration_guard.datamigrations.sources.update_in_batches import update_in_batches

# ---- generated code ----
SOURCE = "__SOURCE__"
TARGETS = __TARGETS__
SEPARATOR = __SEPARATOR__
# __CONDITION__


def split(obj):
    """Set TARGETS from SOURCE split at SEPARATOR: the last target gets the
    rest, missing parts are empty. Returns whether anything changed."""
    parts = (getattr(obj, SOURCE) or "").split(SEPARATOR, len(TARGETS) - 1)
    parts += [""] * (len(TARGETS) - len(parts))
    changed = False
    for name, part in zip(TARGETS, parts):
        if getattr(obj, name) != part:
            setattr(obj, name, part)
            changed = True
    return changed


def forwards(apps, schema_editor):
    """__SUMMARY__."""
    __MODEL__ = apps.get_model("__APP_LABEL__", "__MODEL__")
    rows = __MODEL__._base_manager.using(schema_editor.connection.alias)
    if CONDITION is not None:
        rows = rows.filter(CONDITION)
    change_in_batches(rows.only(SOURCE, *TARGETS), TARGETS, split, "forwards")


def backwards(apps, schema_editor):
    """Set __TARGET_NAMES__ back to their defaults."""
    __MODEL__ = apps.get_model("__APP_LABEL__", "__MODEL__")
    rows = __MODEL__._base_manager.using(schema_editor.connection.alias)
    update_in_batches(rows, reset_values(__MODEL__, TARGETS), "backwards", CONDITION)
