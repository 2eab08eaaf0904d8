"""Template source of map_values (values.MapValues)."""

from django.db.models import Case, F, Q, Value, When

from migration_guard.datamigrations.sources.names import __MAPPING__, CONDITION
from migration_guard.datamigrations.sources.update_in_batches import update_in_batches

# ---- generated code ----
FIELD = "__FIELD__"
MAPPING = __MAPPING__
# __CONDITION__


def forwards(apps, schema_editor):
    """Change __FIELD__ by MAPPING."""
    __MODEL__ = apps.get_model("__APP_LABEL__", "__MODEL__")
    rows = __MODEL__._base_manager.using(schema_editor.connection.alias)
    remap(rows, MAPPING, "forwards")


def backwards(apps, schema_editor):
    """Change __FIELD__ back by the inverse of MAPPING."""
    __MODEL__ = apps.get_model("__APP_LABEL__", "__MODEL__")
    rows = __MODEL__._base_manager.using(schema_editor.connection.alias)
    remap(rows, {new: old for old, new in MAPPING.items()}, "backwards")


def holding(values):
    """Rows whose FIELD is one of ``values`` (None: NULL)."""
    condition = Q(**{f"{FIELD}__in": [v for v in values if v is not None]})
    if None in values:
        condition |= Q(**{f"{FIELD}__isnull": True})
    return condition


def remap(rows, mapping, label):
    """Change FIELD from each key of ``mapping`` to its value, set-based.

    First reads FIELD of the rows that the database matches with a key or a
    value of the mapping (one streamed query), and refuses to run when one
    holds a value the mapping produces but does not map away, or matches a
    key only by the database's comparison (a case-insensitive collation):
    afterwards those rows could not be told apart from the changed ones, so
    the migration could not be undone exactly.
    """
    condition = holding(list(mapping))
    if CONDITION is not None:
        condition &= CONDITION
    produced = [value for value in mapping.values() if value not in mapping]
    candidates = rows.filter(holding([*mapping, *produced]))
    if CONDITION is not None:
        candidates = candidates.filter(CONDITION)
    problems = []
    for value in candidates.values_list(FIELD, flat=True).iterator():
        if value not in mapping and value not in problems:
            problems.append(value)
            if len(problems) == 10:
                break
    if problems:
        raise ValueError(
            f"{rows.model._meta.label}.{FIELD}: rows hold "
            f"{', '.join(map(repr, problems))}, which the database compares equal "
            "to a value this mapping changes or produces; after this migration "
            "they could not be told apart from the changed rows, so it could not "
            "be undone. Change those rows first."
        )
    new_value = Case(
        *[When(**{FIELD: old}, then=Value(new)) for old, new in mapping.items()],
        default=F(FIELD),
    )
    return update_in_batches(rows, {FIELD: new_value}, label, condition)
