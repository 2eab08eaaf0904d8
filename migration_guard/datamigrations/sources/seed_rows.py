"""Template source of seed_rows (rows.SeedRows)."""

import functools
import operator

from django.db.models import Q

from migration_guard.datamigrations.sources.names import (
    __NATURAL_KEY__,
    __ROWS__,
    BATCH_SIZE,
)

# ---- generated code ----
NATURAL_KEY = __NATURAL_KEY__
ROWS = __ROWS__


def forwards(apps, schema_editor):
    """__SUMMARY__; refuse if one of them exists already."""
    __MODEL__ = apps.get_model("__APP_LABEL__", "__MODEL__")
    rows = __MODEL__._base_manager.using(schema_editor.connection.alias)
    existing = []
    for start in range(0, len(ROWS), BATCH_SIZE):
        chunk = ROWS[start : start + BATCH_SIZE]
        existing += rows.filter(by_natural_key(chunk)).values_list(*NATURAL_KEY)
    if existing:
        raise ValueError(
            f"{__MODEL__._meta.label} already has rows with the natural keys "
            f"{sorted(existing)[:10]}: backwards deletes the rows this migration "
            "created, so it does not take over existing ones."
        )
    rows.bulk_create([__MODEL__(**row) for row in ROWS], batch_size=BATCH_SIZE)


def backwards(apps, schema_editor):
    """Delete exactly the rows that forwards created, by their natural keys."""
    __MODEL__ = apps.get_model("__APP_LABEL__", "__MODEL__")
    rows = __MODEL__._base_manager.using(schema_editor.connection.alias)
    for start in range(0, len(ROWS), BATCH_SIZE):
        rows.filter(by_natural_key(ROWS[start : start + BATCH_SIZE])).delete()


def by_natural_key(chunk):
    """Rows whose natural key is one of those of ``chunk``."""
    return functools.reduce(
        operator.or_,
        (Q(**{name: row[name] for name in NATURAL_KEY}) for row in chunk),
    )
