"""The phase of one operation: the classification table (README, "Phases")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import migrations
from django.db.migrations.operations.base import Operation
from django.db.models import NOT_PROVIDED, Field

from migration_guard.run.phases.base import Phase
from migration_guard.run.phases.markers import plain_value, syzygy_stage
from migration_guard.unwrap import database_operations

OldField = Callable[[str, str], "Field[Any, Any] | None"]
"""``old_field(model_name, field_name)``: the field before the operation."""
OldTogether = Callable[[str, str], set[tuple[str, ...]] | None]


#: attributes Django keeps in Python: the previous release sets its own values
PYTHON_SIDE = ("default", "auto_now", "auto_now_add")


def _field_kwargs(
    field: Field[Any, Any],
) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
    _, path, args, kwargs = field.deconstruct()
    for attr in (*field.non_db_attrs, *PYTHON_SIDE):
        if attr != "db_column":
            kwargs.pop(attr, None)
    return path, tuple(args), kwargs


def _alter_field(
    op: migrations.AlterField, old: Field[Any, Any] | None
) -> tuple[Phase, str, bool]:
    if old is None:
        return (
            Phase.POST,
            "changes a column whose previous definition is unknown",
            False,
        )
    old_path, old_args, old_kwargs = _field_kwargs(old)
    new_path, new_args, new_kwargs = _field_kwargs(op.field)
    if (old_path, old_args, old_kwargs) == (new_path, new_args, new_kwargs):
        return Phase.PRE, "changes no column (attributes Django keeps in Python)", True
    relaxed = {
        "null": True,
        "db_index": True,
        "db_comment": new_kwargs.get("db_comment"),
    }
    if old_path == new_path and old_args == new_args:
        changed = {
            key
            for key in set(old_kwargs) | set(new_kwargs)
            if old_kwargs.get(key) != new_kwargs.get(key)
        }
        wider = "max_length" in changed and (new_kwargs.get("max_length") or 0) > (
            old_kwargs.get("max_length") or 0
        )
        changed -= {"max_length"} if wider else set()
        if changed <= set(relaxed) and all(
            new_kwargs.get(key) == relaxed[key] for key in changed
        ):
            return (
                Phase.PRE,
                "relaxes the column (NULL allowed, longer, index or comment added)",
                False,
            )
    return (
        Phase.POST,
        "changes the column (type, NOT NULL, default, constraint...) the previous "
        "release reads and writes",
        False,
    )


_PRE, _POST = Phase.PRE, Phase.POST

#: operation types whose phase does not depend on their arguments (subclasses,
#: such as AddIndexConcurrently or AddConstraintNotValid, included)
SIMPLE: tuple[tuple[type | tuple[type, ...], Phase, str, bool], ...] = (
    (
        migrations.CreateModel,
        _PRE,
        "creates a table the previous release does not use",
        False,
    ),
    (
        migrations.DeleteModel,
        _POST,
        "drops a table the previous release still uses",
        False,
    ),
    (
        (migrations.RenameModel, migrations.AlterModelTable),
        _POST,
        "renames a table the previous release uses by its old name",
        False,
    ),
    (
        migrations.RemoveField,
        _POST,
        "drops a column the previous release still reads",
        False,
    ),
    (
        migrations.RenameField,
        _POST,
        "renames a column the previous release uses by its old name",
        False,
    ),
    (
        migrations.AddIndex,
        _PRE,
        "adds an index (the previous release's queries are unchanged)",
        False,
    ),
    (migrations.RenameIndex, _PRE, "renames an index (no query names it)", False),
    (
        migrations.RemoveIndex,
        _POST,
        "drops an index the previous release's queries may rely on",
        False,
    ),
    (
        migrations.AddConstraint,
        _POST,
        "adds a constraint the previous release's writes may violate",
        False,
    ),
    (
        migrations.RemoveConstraint,
        _PRE,
        "drops a constraint (the previous release's writes still pass)",
        False,
    ),
    (migrations.AlterIndexTogether, _PRE, "changes plain indexes only", False),
    (
        migrations.AlterOrderWithRespectTo,
        _POST,
        "adds or drops the _order column the previous release uses",
        False,
    ),
    (
        (
            migrations.AlterModelOptions,
            migrations.AlterModelManagers,
            migrations.AlterModelTableComment,
        ),
        _PRE,
        "changes no table the previous release uses",
        True,
    ),
)

#: by class name, for django.contrib.postgres operations (not imported here)
BY_NAME: dict[str, tuple[Phase, str]] = {
    "CreateExtension": (_PRE, "installs a database extension"),
    "CreateCollation": (_PRE, "installs a collation"),
    "ValidateConstraint": (
        _POST,
        "validates a constraint the previous release's rows may violate",
    ),
}


def _add_field(op: migrations.AddField) -> tuple[Phase, str, bool]:
    field = op.field
    if field.many_to_many:
        return _PRE, "creates a join table the previous release does not use", False
    if field.null:
        return (
            _PRE,
            "adds a nullable column (the previous release's inserts leave it NULL)",
            False,
        )
    if getattr(field, "db_default", NOT_PROVIDED) is not NOT_PROVIDED:
        return _PRE, "adds a column with a database default (db_default)", False
    return (
        _POST,
        "adds a NOT NULL column without db_default: the previous release's "
        "inserts do not set it and fail",
        False,
    )


def _code(op: Operation) -> tuple[Phase, str, bool]:
    """RunPython, RunSQL: post-deploy unless they do nothing."""
    if isinstance(op, migrations.RunPython):
        if op.code is migrations.RunPython.noop:
            return _PRE, "does nothing", True
        what = "runs code the previous release's data may not agree with"
    else:
        if getattr(op, "sql", None) in ("", migrations.RunSQL.noop):
            return _PRE, "does nothing", True
        what = "runs SQL that cannot be judged"
    return _POST, f"{what} (mark the migration to run it before the deploy)", False


def classify_operation(
    op: Operation,
    app_label: str,
    old_field: OldField | None = None,
    old_together: OldTogether | None = None,
) -> tuple[Phase, str, bool]:
    """``(phase, reason, neutral)`` of one operation (README: "Phases").

    ``reason`` completes "operations[i] Describe(...) ...". ``old_field`` and
    ``old_together`` give the state before the operation (for AlterField and
    AlterUniqueTogether); without them those count as post-deploy.
    """
    stage = syzygy_stage(op)
    if stage is not None:
        return (
            stage,
            f"is marked stage = {plain_value(getattr(op, 'stage', None))!r}",
            False,
        )
    if isinstance(op, migrations.SeparateDatabaseAndState):
        inner = [
            classify_operation(o, app_label, old_field, old_together)
            for o in database_operations(op)
        ]
        post = [item for item in inner if item[0] is _POST]
        if post:
            return _POST, post[0][1] + " (inside SeparateDatabaseAndState)", False
        if not inner:
            return _PRE, "changes Django's state only", True
        return _PRE, inner[0][1] + " (inside SeparateDatabaseAndState)", False
    if isinstance(op, migrations.RunPython | migrations.RunSQL):
        return _code(op)
    if isinstance(op, migrations.AddField):
        return _add_field(op)
    if isinstance(op, migrations.AlterField):
        old = old_field(op.model_name, op.name) if old_field is not None else None
        return _alter_field(op, old)
    if isinstance(op, migrations.AlterUniqueTogether):
        before = old_together(op.name, "unique_together") if old_together else None
        after = {tuple(item) for item in (op.option_value or ())}
        if before is not None and after <= before:
            return _PRE, "drops unique constraints only", False
        return (
            _POST,
            "adds a unique constraint the previous release's writes may violate",
            False,
        )
    for types, phase, reason, neutral in SIMPLE:
        if isinstance(op, types):
            return phase, reason, neutral
    for cls in type(op).__mro__:
        if cls.__name__ in BY_NAME:
            phase, reason = BY_NAME[cls.__name__]
            return phase, reason, False
    return (
        _POST,
        f"is a {type(op).__name__}, which migration_guard does not classify (mark the "
        "migration to run it before the deploy)",
        False,
    )
